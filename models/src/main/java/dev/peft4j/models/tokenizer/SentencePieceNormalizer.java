package dev.peft4j.models.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * SentencePiece's normalizer: the precompiled character map (a Darts double-array trie over UTF-8 bytes
 * whose values point into a table of replacement strings; empty for identity normalization, as LLaMA uses),
 * then the dummy-prefix, extra-whitespace and whitespace-to-▁ rules. User-defined pieces pass through
 * untouched. Works on UTF-8 bytes, as the reference does, so the longest-match rules agree byte for byte.
 */
final class SentencePieceNormalizer {
    static final String SPACE_SYMBOL = "\u2581";
    private static final byte[] SPACE_BYTES = SPACE_SYMBOL.getBytes(StandardCharsets.UTF_8);
    private static final byte[] REPLACEMENT = "\uFFFD".getBytes(StandardCharsets.UTF_8);

    private final int[] trie;         // [units] Darts double-array units, empty when there is no charsmap
    private final byte[] replacements; // NUL-terminated replacement strings the trie values index
    private final byte[][][] userDefinedByFirstByte; // [256][k] user-defined pieces in UTF-8, longest first
    private final boolean addDummyPrefix, removeExtraWhitespaces, escapeWhitespaces;

    SentencePieceNormalizer(byte[] charsmap, List<String> userDefined, boolean addDummyPrefix,
                            boolean removeExtraWhitespaces, boolean escapeWhitespaces) {
        if (charsmap.length == 0) {
            trie = new int[0];
            replacements = new byte[0];
        } else {
            if (charsmap.length < 4) throw new IllegalArgumentException("precompiled_charsmap is truncated");
            long trieSize = le32(charsmap, 0) & 0xFFFFFFFFL;
            if (trieSize % 4 != 0 || trieSize > charsmap.length - 4) throw new IllegalArgumentException("precompiled_charsmap has a bad trie size " + trieSize);
            trie = new int[(int) trieSize / 4];
            for (int i = 0; i < trie.length; i++) trie[i] = le32(charsmap, 4 + 4 * i);
            replacements = Arrays.copyOfRange(charsmap, 4 + (int) trieSize, charsmap.length);
        }
        byte[][][] byFirst = new byte[256][][];
        for (String u : userDefined) {
            byte[] b = u.getBytes(StandardCharsets.UTF_8);
            if (b.length == 0) continue;
            int f = b[0] & 0xFF;
            byte[][] old = byFirst[f] == null ? new byte[0][] : byFirst[f];
            byte[][] grown = Arrays.copyOf(old, old.length + 1);
            grown[old.length] = b;
            Arrays.sort(grown, (x, y) -> y.length - x.length);
            byFirst[f] = grown;
        }
        this.userDefinedByFirstByte = byFirst;
        this.addDummyPrefix = addDummyPrefix;
        this.removeExtraWhitespaces = removeExtraWhitespaces;
        this.escapeWhitespaces = escapeWhitespaces;
    }

    /** Normalizes {@code text}; the result is what the model segments. */
    String normalize(String text) {
        byte[] in = text.getBytes(StandardCharsets.UTF_8);
        Prefix p = new Prefix();
        int pos = 0;
        if (removeExtraWhitespaces) {
            while (pos < in.length) {
                normalizePrefix(in, pos, p);
                if (!(p.len == 1 && p.src[p.from] == ' ')) break;
                pos += p.consumed;
            }
        }
        if (pos == in.length) return "";
        ByteBuf out = new ByteBuf(in.length + in.length / 2 + 3);
        if (addDummyPrefix) out.append(escapeWhitespaces ? SPACE_BYTES : new byte[]{' '});
        boolean prevSpace = removeExtraWhitespaces;
        while (pos < in.length) {
            normalizePrefix(in, pos, p);
            int from = p.from, to = p.from + p.len;
            if (prevSpace) while (from < to && p.src[from] == ' ') from++;
            if (from < to) {
                for (int i = from; i < to; i++) {
                    if (escapeWhitespaces && p.src[i] == ' ') out.append(SPACE_BYTES);
                    else out.append(p.src[i]);
                }
                prevSpace = p.src[to - 1] == ' ';
            }
            pos += p.consumed;
            if (!removeExtraWhitespaces) prevSpace = false;
        }
        if (removeExtraWhitespaces) {
            byte[] space = escapeWhitespaces ? SPACE_BYTES : new byte[]{' '};
            while (out.endsWith(space)) out.size -= space.length;
        }
        return new String(out.bytes, 0, out.size, StandardCharsets.UTF_8);
    }

    /** The normalized form of the longest rule matching at {@code pos}, as a slice. */
    private static final class Prefix {
        byte[] src;
        int from, len, consumed;

        void set(byte[] src, int from, int len, int consumed) {
            this.src = src;
            this.from = from;
            this.len = len;
            this.consumed = consumed;
        }
    }

    private void normalizePrefix(byte[] in, int pos, Prefix p) {
        byte[][] candidates = userDefinedByFirstByte[in[pos] & 0xFF];
        if (candidates != null) {
            for (byte[] u : candidates) {
                if (Arrays.equals(in, pos, Math.min(in.length, pos + u.length), u, 0, u.length)) {
                    p.set(in, pos, u.length, u.length);
                    return;
                }
            }
        }
        int longestLength = 0, longestValue = 0;
        if (trie.length > 0) {
            // Darts-clone commonPrefixSearch: the longest key that is a prefix of in[pos..].
            int node = offset(trie[0]);
            for (int i = pos; i < in.length; i++) {
                int label = in[i] & 0xFF;
                node ^= label;
                if (node < 0 || node >= trie.length) break;
                int unit = trie[node];
                if ((unit & 0x800000FF) != label) break;
                node ^= offset(unit);
                if (((unit >>> 8) & 1) == 1) {
                    if (node < 0 || node >= trie.length) break;
                    longestLength = i + 1 - pos;
                    longestValue = trie[node] & 0x7FFFFFFF;
                }
            }
        }
        if (longestLength > 0) {
            int end = longestValue;
            while (end < replacements.length && replacements[end] != 0) end++;
            p.set(replacements, Math.min(longestValue, replacements.length), Math.max(0, end - longestValue), longestLength);
            return;
        }
        int len = validUtf8Length(in, pos);
        if (len == 0) p.set(REPLACEMENT, 0, REPLACEMENT.length, 1);
        else p.set(in, pos, len, len);
    }

    private static int offset(int unit) {
        return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    }

    /** Length of the valid UTF-8 character at {@code pos}, or 0 if it is malformed. */
    static int validUtf8Length(byte[] b, int pos) {
        int b0 = b[pos] & 0xFF;
        int n = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || pos + n > b.length) return 0;
        int cp = n == 1 ? b0 : b0 & (0x7F >> n);
        for (int i = 1; i < n; i++) {
            if ((b[pos + i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (b[pos + i] & 0x3F);
        }
        int min = n == 1 ? 0 : n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
        return cp >= min && (cp < 0xD800 || (cp >= 0xE000 && cp <= 0x10FFFF)) ? n : 0;
    }

    private static int le32(byte[] b, int i) {
        return (b[i] & 0xFF) | (b[i + 1] & 0xFF) << 8 | (b[i + 2] & 0xFF) << 16 | (b[i + 3] & 0xFF) << 24;
    }

    /** A growable byte array. */
    private static final class ByteBuf {
        byte[] bytes;
        int size;

        ByteBuf(int capacity) {
            bytes = new byte[Math.max(16, capacity)];
        }

        void append(byte b) {
            if (size == bytes.length) bytes = Arrays.copyOf(bytes, bytes.length * 2);
            bytes[size++] = b;
        }

        void append(byte[] b) {
            for (byte x : b) append(x);
        }

        boolean endsWith(byte[] suffix) {
            return size >= suffix.length && Arrays.equals(bytes, size - suffix.length, size, suffix, 0, suffix.length);
        }
    }
}
