package dev.peft4j.models.generate;

import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/** Generates text: prefill the prompt in chunks, then decode one token at a time over the KV cache. */
public final class Generator {
    private final LlamaModel model;

    public Generator(LlamaModel model) {
        this.model = model;
    }

    /** Why generation stopped. */
    public enum Stop { EOS, MAX_TOKENS, CONTEXT }

    /**
     * What a generation produced and how long it took.
     *
     * @param promptIds    the prompt's ids (with BOS if asked)
     * @param generatedIds the new ids (the EOS that stopped it is not included)
     * @param stop         why it stopped
     * @param prefillNanos time to run the prompt
     * @param decodeNanos  time to generate the new tokens
     */
    public record Result(int[] promptIds, int[] generatedIds, Stop stop, long prefillNanos, long decodeNanos) {
        /** New tokens per second of decoding (the first token comes from the prefill). */
        public double decodeTokensPerSecond() {
            int decoded = Math.max(0, generatedIds.length - 1);
            return decodeNanos == 0 ? 0 : decoded / (decodeNanos / 1e9);
        }

        public double seconds() {
            return (prefillNanos + decodeNanos) / 1e9;
        }
    }

    /**
     * Generates from prompt ids. Stops at {@code eos} (if >= 0), after {@code maxNewTokens}, or when the
     * context is full. {@code onToken} sees each new id as it is chosen.
     */
    public Result generate(int[] prompt, int maxNewTokens, Sampling sampling, int eos, IntConsumer onToken) {
        int ctx = model.config().maxSeqLen();
        if (prompt.length == 0) throw new UserException("the prompt is empty: give some text or ask for a BOS token");
        if (prompt.length >= ctx) {
            throw new UserException("the prompt has " + prompt.length + " tokens but the model's context length is " + ctx
                    + " (the prompt must leave room for at least one new token)");
        }
        if (maxNewTokens < 0) throw new UserException("--max-new-tokens must be >= 0, got " + maxNewTokens);
        Sampler sampler = new Sampler(sampling);
        LlamaModel.State state = model.newState();
        int[] out = new int[Math.min(maxNewTokens, ctx - prompt.length + 1)]; // the last one needs no forward
        int n = 0;
        Stop stop = Stop.MAX_TOKENS;
        long t0 = System.nanoTime();
        float[] logits = maxNewTokens == 0 ? null : model.forward(state, prompt, prompt.length, 0);
        long t1 = System.nanoTime();
        int pos = prompt.length;
        while (n < maxNewTokens) {
            int next = sampler.sample(logits);
            if (next == eos) {
                stop = Stop.EOS;
                break;
            }
            out[n++] = next;
            if (onToken != null) onToken.accept(next);
            if (n == maxNewTokens) break;
            if (pos == ctx) {
                stop = Stop.CONTEXT;
                break;
            }
            logits = model.forward(state, new int[]{next}, 1, pos++);
        }
        long t2 = System.nanoTime();
        return new Result(prompt, Arrays.copyOf(out, n), stop, t1 - t0, t2 - t1);
    }

    /** Generates from text, streaming decoded text pieces to {@code onText} (may be null). */
    public Result generate(Tokenizer tokenizer, String prompt, boolean bos, int maxNewTokens, Sampling sampling, Consumer<String> onText) {
        int[] ids = tokenizer.encode(prompt, bos, false);
        for (int id : ids) {
            if (id >= model.config().vocabSize()) {
                throw new UserException("the tokenizer produced id " + id + " but the model's vocabulary has "
                        + model.config().vocabSize() + " entries: tokenizer and model do not match");
            }
        }
        Tokenizer.StreamDecoder decoder = tokenizer.streamDecoder();
        Result r = generate(ids, maxNewTokens, sampling, tokenizer.eos(), id -> {
            if (onText != null) {
                String piece = decoder.accept(id);
                if (!piece.isEmpty()) onText.accept(piece);
            }
        });
        if (onText != null) {
            String rest = decoder.flush();
            if (!rest.isEmpty()) onText.accept(rest);
        }
        return r;
    }
}
