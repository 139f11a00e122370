import Foundation
import LabKit

/// Where the artifact cache lives on this host.
///
/// One cache per user and host, shared by every lab (the artifacts depend on the profile, not on
/// the lab): `$XDG_CACHE_HOME/labctl`, else `~/.cache/labctl` (XDG Base Directory Specification,
/// "$XDG_CACHE_HOME ... If not set or empty, $HOME/.cache"), and `~/Library/Caches/labctl` on macOS
/// (Apple's File System Programming Guide: Library/Caches). `LABCTL_CACHE_DIR` overrides both.
public enum CacheLocation {
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment, macOS: Bool) throws -> String {
        if let dir = environment["LABCTL_CACHE_DIR"], !dir.isEmpty { return dir }
        guard let home = environment["HOME"], !home.isEmpty else {
            throw LabError(.invalidInput, "cannot find the cache folder: HOME is not set", location: .option("HOME"),
                           hint: "set HOME, or LABCTL_CACHE_DIR to the folder labctl may cache downloads in")
        }
        if macOS { return home + "/Library/Caches/labctl" }
        // XDG: a relative XDG_CACHE_HOME is invalid and must be ignored.
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/labctl" }
        return home + "/.cache/labctl"
    }
}
