/** LLaMA models: config, weights, checkpoints, tokenizers, the model, generation. */
module dev.peft4j.models {
    requires transitive dev.peft4j.api;
    requires transitive dev.peft4j.kernels;
    requires com.fasterxml.jackson.databind;
    requires org.eclipse.collections.api;
    requires org.eclipse.collections.impl;
    requires org.apache.commons.compress;
    // Commons Compress reads these only if they are in the module graph: .xz and .zst datasets.
    requires org.tukaani.xz;
    requires com.github.luben.zstd_jni;
    exports dev.peft4j.models;
    exports dev.peft4j.models.io;
    exports dev.peft4j.models.tokenizer;
    exports dev.peft4j.models.generate;
    exports dev.peft4j.models.train;
    exports dev.peft4j.models.data;
    exports dev.peft4j.models.peft;
    opens dev.peft4j.models to com.fasterxml.jackson.databind;
    opens dev.peft4j.models.peft to com.fasterxml.jackson.databind;
    uses dev.peft4j.api.PeftMethod;
    provides dev.peft4j.api.PeftMethod with dev.peft4j.models.peft.FullFineTuning;
    opens dev.peft4j.models.io to com.fasterxml.jackson.databind;
}
