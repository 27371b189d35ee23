package dev.peft4j.models.data;

import java.util.ArrayList;
import java.util.List;

/**
 * The bad records a lenient read skipped: how many, and the line numbers of the first few (for an
 * Alpaca JSON array, the line where the record starts).
 */
public record SkippedLines(long count, List<Long> firstLines) {
    /** How many line numbers are kept. */
    public static final int KEPT = 5;

    public static final SkippedLines NONE = new SkippedLines(0, List.of());

    public SkippedLines {
        firstLines = List.copyOf(firstLines);
    }

    /** e.g. "3 bad lines skipped (lines 4, 9, 17)"; "no bad lines" when none. */
    @Override
    public String toString() {
        if (count == 0) return "no bad lines";
        StringBuilder s = new StringBuilder().append(count).append(count == 1 ? " bad line skipped (line " : " bad lines skipped (lines ");
        for (int i = 0; i < firstLines.size(); i++) s.append(i == 0 ? "" : ", ").append(firstLines.get(i));
        return s.append(count > firstLines.size() ? ", ...)" : ")").toString();
    }

    /** Collects skipped lines while reading. */
    static final class Counter {
        private long count;
        private final List<Long> first = new ArrayList<>();

        void add(long line) {
            count++;
            if (first.size() < KEPT) first.add(line);
        }

        SkippedLines result() {
            return count == 0 ? NONE : new SkippedLines(count, first);
        }
    }
}
