/// The tool's version, printed by `--version`.
public enum BinlogReconcilerVersion {
    public static let string = "0.1.0"
}
