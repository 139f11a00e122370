import Foundation

/// Finds the embedded resources (`.copy("Resources")`).
///
/// The copied folder is named `Resources`; on Linux, Foundation treats a bundle folder holding a
/// `Resources` directory as the resource directory itself, on macOS it is inside
/// `Contents/Resources`. Both layouts are tried.
enum EmbeddedResources {
    static func directory(_ kind: String) -> URL? {
        guard let base = Bundle.module.resourceURL else { return nil }
        for candidate in [base.appendingPathComponent("Resources/\(kind)"), base.appendingPathComponent(kind)] {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), isDir.boolValue { return candidate }
        }
        return nil
    }

    static func url(_ kind: String, _ file: String) -> URL? {
        directory(kind)?.appendingPathComponent(file)
    }
}
