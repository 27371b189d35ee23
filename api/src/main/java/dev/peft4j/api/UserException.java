package dev.peft4j.api;

/**
 * An error caused by the user's input (a file, a field, a flag), with a message that names it.
 * The CLI prints the message alone, without a stack trace, and exits non-zero.
 */
public class UserException extends RuntimeException {
    public UserException(String message) {
        super(message);
    }

    public UserException(String message, Throwable cause) {
        super(message, cause);
    }
}
