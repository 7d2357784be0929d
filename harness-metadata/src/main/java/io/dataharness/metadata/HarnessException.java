package io.dataharness.metadata;

/**
 * Base of every error the metadata layer raises. Messages read "Cannot &lt;action&gt;
 * &lt;object&gt;: &lt;reason&gt;" and say how to fix the problem where there is a fix.
 */
public class HarnessException extends RuntimeException {
  public HarnessException(String message, Object... args) {
    super(args.length == 0 ? message : String.format(message, args));
  }

  public HarnessException(Throwable cause, String message, Object... args) {
    super(args.length == 0 ? message : String.format(message, args), cause);
  }
}
