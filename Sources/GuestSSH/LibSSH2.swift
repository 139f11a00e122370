import CLibSSH2

/// The libssh2 labctl runs with.
public enum LibSSH2 {
    /// The version of the shared library actually loaded (not the headers').
    public static var runtimeVersion: String {
        guard let v = libssh2_version(0) else { return "unknown" }
        return String(cString: v)
    }
}
