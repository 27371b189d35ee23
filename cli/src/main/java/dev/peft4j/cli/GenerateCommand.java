package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text from a prompt, streaming it, then print time, tokens/s and memory.")
final class GenerateCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ModelOptions modelOptions = new ModelOptions();

    @Option(names = "--prompt", description = "The prompt (default: \"${DEFAULT-VALUE}\").", defaultValue = "Once upon a time")
    String prompt;

    @Option(names = "--max-new-tokens", description = "At most this many new tokens (default: ${DEFAULT-VALUE}).", defaultValue = "64")
    int maxNewTokens;

    @Option(names = "--temperature", description = "0 for greedy decoding (default: ${DEFAULT-VALUE}).", defaultValue = "0.8")
    float temperature;

    @Option(names = "--top-k", description = "Sample from the k most likely tokens; 0 for all (default: ${DEFAULT-VALUE}).", defaultValue = "0")
    int topK;

    @Option(names = "--top-p", description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).", defaultValue = "0.9")
    float topP;

    @Option(names = "--seed", description = "Random seed of the sampler (default: ${DEFAULT-VALUE}).", defaultValue = "42")
    long seed;

    @Option(names = "--no-bos", description = "Do not start the prompt with the BOS token.")
    boolean noBos;

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Sampling sampling;
        try {
            sampling = new Sampling(temperature, topK, topP, seed);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        ModelOptions.Loaded loaded = modelOptions.load();
        Generator generator = new Generator(loaded.peft().inferenceModel());
        if (!json) {
            out.print(prompt);
            out.flush();
        }
        Generator.Result r = generator.generate(loaded.tokenizer(), prompt, !noBos, maxNewTokens, sampling, json ? null : piece -> {
            out.print(piece);
            out.flush();
        });
        String text = loaded.tokenizer().decode(r.generatedIds());
        long peak = Report.peakRssBytes();
        long heap = Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
        if (json) {
            new Report().put("model", loaded.name()).put("prompt", prompt).put("text", text).put("ids", r.generatedIds())
                    .put("prompt_tokens", r.promptIds().length).put("new_tokens", r.generatedIds().length)
                    .put("stop", r.stop().name().toLowerCase()).put("seconds", r.seconds()).put("prefill_s", r.prefillNanos() / 1e9)
                    .put("tokens_per_s", r.decodeTokensPerSecond()).put("peak_rss_bytes", peak).put("heap_used_bytes", heap)
                    .printJson(out);
        } else {
            out.println();
            out.println();
            out.printf("model: %s%n", loaded.name());
            out.printf("%d prompt tokens, %d new tokens (stopped: %s)%n", r.promptIds().length, r.generatedIds().length,
                    r.stop().name().toLowerCase().replace('_', ' '));
            out.printf("time: %.2f s (prompt %.3f s), %.1f tokens/s, peak memory %s (heap in use %s)%n",
                    r.seconds(), r.prefillNanos() / 1e9, r.decodeTokensPerSecond(), Report.mib(peak), Report.mib(heap));
        }
        return 0;
    }
}
