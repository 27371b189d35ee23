/** Prefix tuning and LLaMA-Adapter plugins. */
module dev.peft4j.prefix {
    requires dev.peft4j.api;
    requires dev.peft4j.kernels;
    requires com.fasterxml.jackson.databind;
    exports dev.peft4j.prefix;
    opens dev.peft4j.prefix to com.fasterxml.jackson.databind;
    provides dev.peft4j.api.PeftMethod with dev.peft4j.prefix.PrefixTuningMethod, dev.peft4j.prefix.LlamaAdapterMethod;
}
