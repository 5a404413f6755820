// Package repocheck holds tests about the repository as a whole: it must
// stand on its own, so no tracked file names a path of the machine it was
// written on or a folder outside the repository. It has no code.
package repocheck
