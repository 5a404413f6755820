// Package engine runs k-bit networks (the quant package's Model) and float
// networks (folded quant.FloatLayers): the chunked forward engine,
// fake-quantized in float32 or on the int8 path, and on top of it the
// incremental Evaluator that scores candidate level vectors fast for the
// optimizers (with racing, ScoreRace), EvaluateModel and the float
// evaluation, the Probe hooks the quantizers use to see layer inputs and
// outputs, activation calibration (CalibrateActs, which runs the float
// network) and SplitData, which prepares a dataset split as the engine's
// input. The format it runs is in package quant; the layering is
// quant <- quant/engine <- quant/ptq, quant/ste, quant/integer, ...
package engine
