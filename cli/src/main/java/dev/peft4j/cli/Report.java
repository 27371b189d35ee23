package dev.peft4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A command's results: printed for people, or with {@code --json} as one JSON object on the last
 * line of stdout, with snake_case field names.
 */
final class Report {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Map<String, Object> fields = new LinkedHashMap<>();

    Report put(String snakeCaseName, Object value) {
        fields.put(snakeCaseName, value);
        return this;
    }

    void printJson(PrintWriter out) {
        try {
            out.println(JSON.writeValueAsString(fields));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        out.flush();
    }

    /** Peak resident set size of this process (VmHWM), or -1 where /proc is not there. */
    static long peakRssBytes() {
        return procStatusKb("VmHWM:") * 1024;
    }

    /** Current resident set size (VmRSS), or -1. */
    static long rssBytes() {
        return procStatusKb("VmRSS:") * 1024;
    }

    private static long procStatusKb(String key) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux: unknown
        }
        return -1;
    }

    static String mib(long bytes) {
        return bytes < 0 ? "unknown" : String.format("%.1f MiB", bytes / (1024.0 * 1024.0));
    }
}
