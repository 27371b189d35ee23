/** The public peft4j API: the PEFT method SPI and the types plugins see. */
package dev.peft4j.api;
