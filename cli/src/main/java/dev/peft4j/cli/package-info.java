/** The {@code peft4j} command line: one picocli command class per sub-command, {@link dev.peft4j.cli.Main} the entry point. */
package dev.peft4j.cli;
