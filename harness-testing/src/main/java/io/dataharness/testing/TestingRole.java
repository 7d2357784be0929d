package io.dataharness.testing;

/**
 * A login role of the {@link TestingPostgres} server that must give its password (see {@link
 * TestingPostgres#createPasswordRole}).
 *
 * @param name the role, unique on the server
 * @param password its current password
 */
public record TestingRole(String name, String password) {
  /** Hides the password. */
  @Override
  public String toString() {
    return "TestingRole[" + name + "]";
  }
}
