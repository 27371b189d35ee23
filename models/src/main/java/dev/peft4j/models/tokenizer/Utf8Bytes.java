package dev.peft4j.models.tokenizer;

/**
 * Turns a stream of bytes into text one character at a time, holding back an incomplete UTF-8 sequence
 * until later bytes complete it. Invalid bytes become U+FFFD, one per byte, as SentencePiece's decoder
 * does (a lead byte that is not followed by its continuation bytes is invalid on its own).
 */
final class Utf8Bytes {
    private final byte[] pending = new byte[4];
    private int count;

    /** Appends one byte and writes every character it completes to {@code out}. */
    void accept(int b, StringBuilder out) {
        pending[count++] = (byte) b;
        drain(out, false);
    }

    /** Writes what is held back, each leftover byte as U+FFFD. */
    void flush(StringBuilder out) {
        drain(out, true);
    }

    boolean isEmpty() {
        return count == 0;
    }

    private void drain(StringBuilder out, boolean atEnd) {
        while (count > 0) {
            int b0 = pending[0] & 0xFF;
            int need = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
            if (need > count) {
                boolean allTrail = true;
                for (int i = 1; i < count; i++) allTrail &= isTrail(pending[i]);
                if (allTrail && !atEnd) return; // may still be completed
                need = 0;
            }
            int cp = need == 0 ? -1 : decode(need);
            if (cp < 0) {
                out.append('\uFFFD');
                shift(1);
            } else {
                out.appendCodePoint(cp);
                shift(need);
            }
        }
    }

    /** The code point of the first {@code n} pending bytes, or -1 if they are not valid UTF-8. */
    private int decode(int n) {
        int b0 = pending[0] & 0xFF;
        if (n == 1) return b0;
        int cp = b0 & (0x7F >> n);
        for (int i = 1; i < n; i++) {
            if (!isTrail(pending[i])) return -1;
            cp = cp << 6 | (pending[i] & 0x3F);
        }
        int min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
        boolean valid = cp >= min && (cp < 0xD800 || (cp >= 0xE000 && cp <= 0x10FFFF));
        return valid ? cp : -1;
    }

    private static boolean isTrail(byte b) {
        return (b & 0xC0) == 0x80;
    }

    private void shift(int n) {
        System.arraycopy(pending, n, pending, 0, count - n);
        count -= n;
    }
}
