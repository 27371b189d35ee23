package dev.peft4j.models.data;

import dev.peft4j.models.tokenizer.Tokenizer;

/**
 * One example as token ids: {@code [BOS] + encode(prompt) + encode(response) + [EOS]}, cut to at
 * most {@code maxSeqLength} tokens, and how many leading tokens the loss ignores.
 *
 * <p>The prompt and the response are encoded separately, each without BOS/EOS (as litgpt's
 * {@code SFTDataset} does), so the boundary between them is exact. Tokens {@code [0, promptLength)}
 * get loss weight 0: BOS and the prompt when the prompt is masked, nothing when it is not. A
 * response cut away entirely by truncation leaves {@code promptLength == tokens.length}.
 *
 * @param tokens       the ids, at most {@code maxSeqLength} of them
 * @param promptLength leading tokens excluded from the loss
 * @param fullLength   the length before truncation ({@code > tokens.length} when truncated)
 */
public record TokenizedExample(int[] tokens, int promptLength, int fullLength) {
    public TokenizedExample {
        if (promptLength < 0 || promptLength > tokens.length || fullLength < tokens.length) {
            throw new IllegalArgumentException("promptLength " + promptLength + ", fullLength " + fullLength + " for " + tokens.length + " tokens");
        }
    }

    /** Whether truncation removed tokens. */
    public boolean truncated() {
        return fullLength > tokens.length;
    }

    /** Tokenizes {@code example} with the Alpaca prompt template. */
    public static TokenizedExample encode(Tokenizer tokenizer, Example example, boolean maskPrompt, int maxSeqLength) {
        return encode(tokenizer, example.prompt(), example.output(), maskPrompt, maxSeqLength);
    }

    /** Tokenizes a prompt and its response; BOS and EOS only where the tokenizer has them. */
    public static TokenizedExample encode(Tokenizer tokenizer, String prompt, String response, boolean maskPrompt, int maxSeqLength) {
        int[] p = tokenizer.encode(prompt, false, false);
        int[] r = tokenizer.encode(response, false, false);
        int bos = tokenizer.bos() >= 0 ? 1 : 0, eos = tokenizer.eos() >= 0 ? 1 : 0;
        int full = bos + p.length + r.length + eos;
        int n = Math.min(full, maxSeqLength);
        int[] ids = new int[n];
        int i = 0;
        if (bos == 1 && i < n) ids[i++] = tokenizer.bos();
        int k = Math.min(p.length, n - i);
        System.arraycopy(p, 0, ids, i, k);
        i += k;
        k = Math.min(r.length, n - i);
        System.arraycopy(r, 0, ids, i, k);
        i += k;
        if (eos == 1 && i < n) ids[i++] = tokenizer.eos();
        int masked = maskPrompt ? Math.min(bos + p.length, n) : 0;
        return new TokenizedExample(ids, masked, full);
    }
}
