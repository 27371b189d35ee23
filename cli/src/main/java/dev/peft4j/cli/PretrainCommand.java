package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.FullFineTuning;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "pretrain", mixinStandardHelpOptions = true,
        description = "Train a small LLaMA from scratch on text (the same loop as finetune, every weight trainable).")
final class PretrainCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin DataOptions dataOptions = new DataOptions();
    @Mixin TrainFlags train = new TrainFlags();

    @Option(names = "--tokenizer", paramLabel = "PATH", defaultValue = "byte",
            description = "tokenizer.model, tokenizer.json, tokenizer.bin, or 'byte' (default: ${DEFAULT-VALUE}).")
    Path tokenizer;

    @Option(names = "--dim", defaultValue = "128") int dim;
    @Option(names = "--hidden", defaultValue = "344") int hidden;
    @Option(names = "--layers", defaultValue = "4") int layers;
    @Option(names = "--heads", defaultValue = "4") int heads;
    @Option(names = "--kv-heads", defaultValue = "2") int kvHeads;
    @Option(names = "--context", defaultValue = "256") int context;
    @Option(names = "--init-std", defaultValue = "0.02", description = "Std of the random initial weights (default: ${DEFAULT-VALUE}).") float initStd = 0.02f;
    @Option(names = "--json", description = "Print one JSON object with the results as the last line.") boolean json;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Path outDir = train.out != null ? train.out : Path.of("out", "pretrain");
        Tokenizer tok = ModelOptions.tokenizer(tokenizer);
        LlamaConfig config;
        try {
            config = LlamaConfig.of(dim, hidden, layers, heads, kvHeads, tok.vocabSize(), context, false);
        } catch (IllegalArgumentException e) {
            throw new UserException("model shape: " + e.getMessage());
        }
        PreparedDataset data = dataOptions.load(tok, train.seed);
        if (!data.isText()) throw new UserException("--data: pretrain reads plain text (.txt)");
        if (!json) out.println(data.summary().describe());
        Result r = pretrain(out, config, data, outDir, json);
        if (json) r.report().put("out", outDir.resolve("model").toString()).printJson(out);
        return 0;
    }

    record Result(PeftModel model, FinetuneCommand.Result run, Report report) {}

    Result pretrain(PrintWriter out, LlamaConfig config, PreparedDataset data, Path outDir, boolean quiet) throws IOException {
        PeftModel peft = new PeftModel(LlamaWeights.random(config, train.seed, initStd), train.seed);
        peft.install(new FullFineTuning(), new FullFineTuning.Config());
        FinetuneCommand trainer = new FinetuneCommand();
        trainer.train = train;
        trainer.dataOptions = dataOptions;
        FinetuneCommand.Result r = trainer.train(out, peft, data, config.maxSeqLen(), outDir, quiet);
        if (r.run().step() == train.steps) {
            Path model = outDir.resolve("model");
            Checkpoints.save(peft.base(), model, CheckpointFormat.HF, DType.F32, 0);
            if (tokenizer.toString().equals("byte")) Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "one token per UTF-8 byte\n");
            else Files.copy(tokenizer, model.resolve(tokenizer.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            if (!quiet) out.printf("model saved in %s%n", model);
        }
        return new Result(peft, r, r.report());
    }
}
