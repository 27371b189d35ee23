package dev.peft4j.models.data;

import java.util.Locale;

/**
 * The dataset formats read here, each recognised by the extension of its (decompressed) name.
 *
 * <ul>
 *   <li>{@link #ALPACA} {@code .json}: one JSON array of {@code {instruction, input, output}}
 *       objects; {@code input} may be missing, null or empty.
 *   <li>{@link #DOLLY} {@code .jsonl}: one JSON object per line with {@code instruction},
 *       {@code context} (optional; becomes the input), {@code response} (the output) and
 *       {@code category} (ignored).
 *   <li>{@link #TEXT} {@code .txt}: one UTF-8 document, for plain language modelling.
 * </ul>
 */
public enum DatasetFormat {
    ALPACA(".json"),
    DOLLY(".jsonl"),
    TEXT(".txt");

    private static final String[] COMPRESSIONS = {".gz", ".xz", ".bz2", ".zst"};

    private final String extension;

    DatasetFormat(String extension) {
        this.extension = extension;
    }

    /** The file extension of this format, with its dot. */
    public String extension() {
        return extension;
    }

    /** Whether a file named {@code name} (perhaps compressed, e.g. {@code a.jsonl.gz}) holds this format. */
    public boolean matches(String name) {
        return stripCompression(name).toLowerCase(Locale.ROOT).endsWith(extension);
    }

    /** The format a file name says, or null when its extension is none of ours. */
    public static DatasetFormat detect(String name) {
        for (DatasetFormat f : values()) {
            if (f.matches(name)) return f;
        }
        return null;
    }

    /** Parses a format name as users type it: {@code alpaca}, {@code dolly} or {@code text}. */
    public static DatasetFormat parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "alpaca", "json" -> ALPACA;
            case "dolly", "jsonl" -> DOLLY;
            case "text", "txt" -> TEXT;
            default -> throw new dev.peft4j.api.UserException("unknown dataset format '" + name + "'; expected alpaca, dolly or text");
        };
    }

    /** {@code name} without a trailing compression extension ({@code .gz}, {@code .xz}, {@code .bz2}, {@code .zst}). */
    static String stripCompression(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        for (String c : COMPRESSIONS) {
            if (lower.endsWith(c)) return name.substring(0, name.length() - c.length());
        }
        return name;
    }
}
