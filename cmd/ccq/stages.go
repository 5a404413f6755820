package main

// The built-in stage kinds, registered with the pipeline.
import _ "github.com/ccq-project/ccq/stages/all"
