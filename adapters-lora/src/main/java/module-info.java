/** The LoRA plugin. */
module dev.peft4j.lora {
    requires dev.peft4j.api;
    requires dev.peft4j.kernels;
}
