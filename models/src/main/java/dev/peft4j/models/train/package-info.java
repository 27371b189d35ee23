/**
 * Training: {@link dev.peft4j.models.train.LlamaTrainer} (forward and backward of a batch),
 * {@link dev.peft4j.models.train.AdamWOptimizer}, {@link dev.peft4j.models.train.LrSchedule} and
 * {@link dev.peft4j.models.train.TrainingRun} (the loop: accumulation, validation, checkpoints, resume).
 */
package dev.peft4j.models.train;
