package dev.peft4j.models.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import dev.peft4j.api.UserException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Streams the examples of an Alpaca JSON array or a Dolly JSONL file, one at a time, without
 * holding the file in memory (Jackson's streaming parser for the array, one line at a time for
 * JSONL).
 *
 * <p>A record that is not valid JSON, lacks a required field or has a field of the wrong type is
 * an error naming the file, the line and the field; when {@code skipBadLines} is set it is
 * skipped and counted instead. A syntax error inside an Alpaca array cannot be skipped (the rest
 * of the array cannot be found again), so it is always an error. Fields other than the ones
 * read are ignored.
 */
public final class InstructionReader {
    private static final JsonFactory JSON = JsonFactory.builder().build();

    private InstructionReader() {}

    /** Reads every example of {@code file} into {@code sink}; returns what was skipped. */
    public static SkippedLines read(DataFile file, DatasetFormat format, boolean skipBadLines, Consumer<Example> sink) {
        SkippedLines.Counter skipped = new SkippedLines.Counter();
        try {
            switch (format) {
                case ALPACA -> readAlpaca(file, skipBadLines, skipped, sink);
                case DOLLY -> readDolly(file, skipBadLines, skipped, sink);
                case TEXT -> throw new IllegalArgumentException("plain text has no instruction examples");
            }
        } catch (IOException e) {
            throw new UserException(file.name() + ": cannot read: " + e.getMessage(), e);
        }
        return skipped.result();
    }

    /** A record that cannot become an example. */
    private static final class BadRecord extends Exception {
        BadRecord(String message) {
            super(message, null, false, false);
        }
    }

    private static void readAlpaca(DataFile file, boolean skip, SkippedLines.Counter skipped, Consumer<Example> sink) throws IOException {
        try (JsonParser p = JSON.createParser(file.stream())) {
            JsonToken t = p.nextToken();
            if (t == null) return;
            if (t != JsonToken.START_ARRAY) {
                throw new UserException(file.name() + " line " + line(p) + ": expected a JSON array of {instruction, input, output} objects, found "
                        + describe(t));
            }
            while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                if (t == null) throw new UserException(file.name() + ": ends inside the JSON array (truncated file?)");
                long line = line(p);
                try {
                    if (t != JsonToken.START_OBJECT) {
                        p.skipChildren();
                        throw new BadRecord("expected an {instruction, input, output} object, found " + describe(t));
                    }
                    Map<String, Object> fields = fields(p);
                    sink.accept(new Example(required(fields, "instruction"), optional(fields, "input"), required(fields, "output")));
                } catch (BadRecord e) {
                    bad(file, line, e, skip, skipped);
                }
            }
            if (p.nextToken() != null) throw new UserException(file.name() + " line " + line(p) + ": unexpected content after the JSON array");
        } catch (JsonProcessingException e) {
            throw new UserException(file.name() + " line " + lineOf(e) + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static void readDolly(DataFile file, boolean skip, SkippedLines.Counter skipped, Consumer<Example> sink) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(file.stream(), StandardCharsets.UTF_8.newDecoder()), 1 << 16);
        long line = 0;
        while (true) {
            String text;
            try {
                text = in.readLine();
            } catch (CharacterCodingException e) {
                throw new UserException(file.name() + " line " + (line + 1) + ": not valid UTF-8", e);
            }
            if (text == null) return;
            line++;
            if (line == 1 && text.startsWith("\uFEFF")) text = text.substring(1);
            if (text.isBlank()) continue;
            try (JsonParser p = JSON.createParser(text)) {
                JsonToken t = p.nextToken();
                if (t != JsonToken.START_OBJECT) {
                    throw new BadRecord("expected an {instruction, context, response} object, found " + describe(t));
                }
                Map<String, Object> fields = fields(p);
                if (p.nextToken() != null) throw new BadRecord("unexpected content after the JSON object");
                sink.accept(new Example(required(fields, "instruction"), optional(fields, "context"), required(fields, "response")));
            } catch (JsonProcessingException e) {
                bad(file, line, new BadRecord("not valid JSON: " + e.getOriginalMessage()), skip, skipped);
            } catch (BadRecord e) {
                bad(file, line, e, skip, skipped);
            }
        }
    }

    private static void bad(DataFile file, long line, BadRecord e, boolean skip, SkippedLines.Counter skipped) {
        if (!skip) throw new UserException(file.name() + " line " + line + ": " + e.getMessage() + " (skipBadLines skips such lines)");
        skipped.add(line);
    }

    /** The fields of the object whose START_OBJECT is current: strings as String, null as null, others as their kind. */
    private static Map<String, Object> fields(JsonParser p) throws IOException {
        Map<String, Object> fields = new HashMap<>();
        for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
            String name = p.currentName();
            JsonToken v = p.nextToken();
            fields.put(name, switch (v) {
                case VALUE_STRING -> p.getText();
                case VALUE_NULL -> null;
                default -> new Kind(describe(v));
            });
            p.skipChildren();
        }
        return fields;
    }

    /** The kind of a non-string value, for messages. */
    private record Kind(String word) {}

    private static String required(Map<String, Object> fields, String name) throws BadRecord {
        if (!fields.containsKey(name)) throw new BadRecord("field \"" + name + "\" is missing");
        return string(fields, name, false);
    }

    private static String optional(Map<String, Object> fields, String name) throws BadRecord {
        return fields.containsKey(name) ? string(fields, name, true) : "";
    }

    private static String string(Map<String, Object> fields, String name, boolean nullable) throws BadRecord {
        Object v = fields.get(name);
        if (v instanceof String s) return s;
        if (v == null && nullable) return "";
        throw new BadRecord("field \"" + name + "\" must be a string, not " + (v == null ? "null" : ((Kind) v).word()));
    }

    private static String describe(JsonToken t) {
        if (t == null) return "nothing";
        return switch (t) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> t.asString() != null ? "'" + t.asString() + "'" : t.name();
        };
    }

    private static long line(JsonParser p) {
        return p.currentTokenLocation().getLineNr();
    }

    private static long lineOf(JsonProcessingException e) {
        JsonLocation loc = e.getLocation();
        return loc == null ? -1 : loc.getLineNr();
    }
}
