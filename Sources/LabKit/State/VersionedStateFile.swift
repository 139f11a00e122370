import Foundation

/// A JSON state file that names its own format version (the journal, lab snapshot manifests), so a
/// labctl never misreads a file written by a newer one.
public protocol VersionedStateFile: Decodable {
    static var formatVersion: Int { get }
    /// What the file is, for messages: "the journal", "the snapshot manifest".
    static var fileDescription: String { get }
    /// What to do with a file that cannot be decoded (it stays where it is).
    static var unreadableHint: String { get }
    var version: Int { get }
    /// What makes decoded content unusable although it decodes (nil: nothing), for the error message.
    var damage: String? { get }
}

extension VersionedStateFile {
    /// Decodes the file at `path` with the state files' date format; a newer format version, or
    /// content that does not decode, throws a `LabError` naming the file and what to do.
    public static func read(path: String) throws -> Self {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LabError(.invalidInput, "cannot read \(fileDescription)", location: .file(path), hint: unreadableHint, cause: error)
        }
        return try decode(data, path: path)
    }

    /// Decodes the file's bytes (`path` names it in errors); the same checks as `read(path:)`.
    public static func decode(_ data: Data, path: String) throws -> Self {
        let decoded: Self
        do {
            decoded = try JournalState.decoder().decode(Self.self, from: data)
        } catch {
            throw LabError(.invalidInput, "cannot read \(fileDescription)", location: .file(path), hint: unreadableHint, cause: error)
        }
        guard decoded.version == formatVersion else {
            throw LabError(.unsupported, "\(fileDescription) has format version \(decoded.version); this labctl reads \(formatVersion)",
                           location: .file(path), hint: "use the labctl that wrote it, or move the file away")
        }
        if let damage = decoded.damage {
            throw LabError(.invalidInput, "\(fileDescription) is damaged: \(damage)", location: .file(path), hint: unreadableHint)
        }
        return decoded
    }
}
