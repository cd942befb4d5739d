/// snapharness's own version (`snapharness --version`); snapshots record it.
public enum SnapHarnessVersion {
    public static let current = "0.10.0"
}
