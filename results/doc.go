// Package results defines ccq's result tables (generations, runs, stages),
// their documented Parquet schemas, crash-safe writers and readers.
//
// Every run leaves under runs/<experiment>/:
//
//	runs.parquet      one row per evaluated model (RunRow)
//	generations/      part files part-NNNNN.parquet, one table (GenerationRow)
//	stages.parquet    one row per pipeline stage (StageRow)
//	provenance.json   who ran what, where, how long (Provenance)
//
// The files are plain Parquet (zstd) readable by DuckDB, pandas, polars and
// Arrow. Schemas only ever gain optional columns, so old files stay readable.
// Accuracies are fractions in [0, 1]; times are seconds or millisecond
// timestamps (UTC).
package results
