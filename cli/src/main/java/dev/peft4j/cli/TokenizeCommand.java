package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.tokenizer.Tokenizer;
import dev.peft4j.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Print the token ids (and pieces) of a text, e.g. to check a prompt template.")
final class TokenizeCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--tokenizer", required = true, paramLabel = "PATH", description = "tokenizer.model, tokenizer.bin or tokenizer.json")
    Path tokenizer;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--text", description = "The text to tokenize.") String text;
        @Option(names = "--file", paramLabel = "FILE", description = "A UTF-8 file to tokenize.") Path file;
    }

    @Option(names = "--bos", description = "Start with the BOS token.") boolean bos;
    @Option(names = "--eos", description = "End with the EOS token.") boolean eos;
    @Option(names = "--json", description = "Print one JSON object with the results as the last line.") boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Tokenizer tok = Tokenizers.load(tokenizer);
        String text = input.text;
        if (text == null) {
            try {
                text = Files.readString(input.file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UserException("--file: cannot read " + input.file + ": " + e.getMessage(), e);
            }
        }
        int[] ids = tok.encode(text, bos, eos);
        String[] pieces = new String[ids.length];
        for (int i = 0; i < ids.length; i++) pieces[i] = tok.piece(ids[i]);
        if (json) {
            new Report().put("ids", ids).put("pieces", pieces).put("count", ids.length).printJson(out);
        } else {
            StringBuilder idLine = new StringBuilder();
            for (int i = 0; i < ids.length; i++) idLine.append(i == 0 ? "" : " ").append(ids[i]);
            out.println(idLine);
            for (int i = 0; i < ids.length; i++) out.printf("%8d  %s%n", ids[i], pieces[i]);
            out.printf("%d tokens%n", ids.length);
        }
        return 0;
    }
}
