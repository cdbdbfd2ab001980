import ReconcilerCore
/// SQL quoting that needs no connection, shared by the bootstrap (which runs the statements) and
/// the doctor (which runs some and prints others as fixes), so that both name a table the same way.
public enum SQLQuoting {
    /// An identifier (database, table, column) in backticks with every backtick doubled, which
    /// MySQL and MariaDB read the same way in every `sql_mode` (`ANSI_QUOTES` adds double quotes,
    /// it does not take backticks away): `we`ird` becomes `` `we``ird` ``.
    public static func identifier(_ name: String) -> String {
        "`" + name.replacing("`", with: "``") + "`"
    }

    /// `` `database`.`table` ``.
    public static func qualified(_ database: String, _ table: String) -> String {
        identifier(database) + "." + identifier(table)
    }

    /// A string literal for a statement that is printed rather than run (a GRANT fix for a user
    /// name): quotes doubled and backslashes escaped, as read with the default `sql_mode`. With a
    /// connection at hand use ``SQLConnection/quoted(_:)``, which follows the session's mode.
    public static func literal(_ text: String) -> String {
        "'" + text.replacing("\\", with: "\\\\").replacing("'", with: "''") + "'"
    }
}
