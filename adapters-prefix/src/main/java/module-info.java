/** Prefix tuning and LLaMA-Adapter plugins. */
module dev.peft4j.prefix {
    requires dev.peft4j.api;
    requires dev.peft4j.kernels;
}
