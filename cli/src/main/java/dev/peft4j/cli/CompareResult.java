package dev.peft4j.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.util.List;

/** compare's results: one {@link Row} per method, as results.json holds them (snake_case fields). */
final class CompareResult {
    private CompareResult() {}

    static final ObjectMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .serializationInclusion(JsonInclude.Include.ALWAYS)
            .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, false)
            .build();

    /** A greedy answer to a held-out prompt. */
    record Answer(String prompt, String answer, String expected, boolean right) {}

    /**
     * What differs between equal runs (times, speeds, memory): kept apart so that the rest of a row is the same for
     * the same seed. Seconds and tokens/s are null where the method did not get that far.
     *
     * @param peakRssBytes          the worker process's peak resident set size (VmHWM)
     * @param stepS                 median seconds per optimizer step
     * @param trainTokensPerS       training tokens (batch x sequence, padding included) per second over all steps
     * @param inferTokensPerS       greedy decoding tokens/s of the adapted model (adapters beside the base)
     * @param mergedInferTokensPerS the same with the adapters merged into the base weights (LoRA), else null
     * @param seconds               the worker's wall time, loading and evaluation included
     */
    record Measured(long peakRssBytes, Double stepS, Double trainTokensPerS, Double inferTokensPerS, Double mergedInferTokensPerS,
                    double seconds) {}

    /**
     * One method's row.
     *
     * @param status        ok, diverged or failed (error says why)
     * @param trainLoss     mean training loss of the last 10 steps
     * @param valCurve      [step, validation loss] pairs, step 0 before training
     * @param adapterBytes  bytes on disk of the adapter files (of the whole model for full fine-tuning; 0 for base)
     * @param exactMatch    fraction of held-out prompts answered exactly, where the data has exact answers, else null
     */
    record Row(String method, String status, String error, Double lr, int steps, int stepsDone, long trainableParams, long modelParams,
               Long adapterBytes, boolean adapterIsModel, Double trainLoss, Double valLoss, Double valPerplexity, Double exactMatch,
               Integer exactCorrect, Integer exactTotal, String device, List<Answer> answers, double[] trainCurve, List<double[]> valCurve,
               Measured measured) {

        boolean ok() {
            return status.equals("ok");
        }

        /** A row for a method whose worker did not come back with one (a crash, out of memory, Ctrl-C). */
        static Row failed(String method, String status, String error, Double lr, int steps, Measured measured) {
            return new Row(method, status, error, lr, steps, 0, 0, 0, null, false, null, null, null, null, null, null, null, List.of(),
                    new double[0], List.of(), measured);
        }

        static final class Builder {
            final String method, status, error;
            Double lr;
            int steps, stepsDone;
            long trainableParams, modelParams;
            Long adapterBytes;
            boolean adapterIsModel;
            Double trainLoss, valLoss, valPerplexity, exactMatch;
            Integer exactCorrect, exactTotal;
            String device;
            List<Answer> answers = List.of();
            double[] trainCurve = new double[0];
            List<double[]> valCurve = List.of();
            Measured measured;

            Builder(String method, String status, String error) {
                this.method = method;
                this.status = status;
                this.error = error;
            }

            Row build() {
                return new Row(method, status, error, lr, steps, stepsDone, trainableParams, modelParams, adapterBytes, adapterIsModel, trainLoss,
                        valLoss, valPerplexity, exactMatch, exactCorrect, exactTotal, device, List.copyOf(answers), trainCurve, List.copyOf(valCurve),
                        measured);
            }
        }
    }
}
