package dev.peft4j.models.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of bytes into text as soon as each character is complete: the bytes of an
 * unfinished UTF-8 sequence are held back; a byte that cannot start or continue one becomes U+FFFD.
 */
public final class Utf8Accumulator {
    private final byte[] pending = new byte[4];
    private int size;

    /** Adds one byte; returns the text it completes (often empty). */
    public String accept(byte b) {
        pending[size++] = b;
        StringBuilder out = new StringBuilder();
        while (size > 0) {
            int need = sequenceLength(pending[0]);
            int have = Math.min(size, need);
            boolean continuationOk = true;
            for (int i = 1; i < have; i++) continuationOk &= (pending[i] & 0xC0) == 0x80;
            if (need < 0 || !continuationOk) {
                out.append('\uFFFD');
                drop(1);
            } else if (size < need) {
                break; // wait for the rest of the character
            } else {
                out.append(new String(pending, 0, need, StandardCharsets.UTF_8));
                drop(need);
            }
        }
        return out.toString();
    }

    /** Returns what is held back, as U+FFFD for each incomplete character, and clears it. */
    public String flush() {
        String s = size == 0 ? "" : "\uFFFD";
        size = 0;
        return s;
    }

    private void drop(int n) {
        System.arraycopy(pending, n, pending, 0, size - n);
        size -= n;
    }

    private static int sequenceLength(byte lead) {
        int b = lead & 0xff;
        if (b < 0x80) return 1;
        if (b >= 0xC2 && b < 0xE0) return 2;
        if (b >= 0xE0 && b < 0xF0) return 3;
        if (b >= 0xF0 && b < 0xF5) return 4;
        return -1;
    }
}
