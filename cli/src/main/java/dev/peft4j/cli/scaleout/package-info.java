/** Scale-out: the SPI through which {@code finetune --spark} reaches a distributed engine (the peft4j-spark artifact). */
package dev.peft4j.cli.scaleout;
