import Foundation
import Testing
import LabKit
@testable import VMwareDriver

/// Paths of fixture files (Fixtures/driver/...).
/// The path of a fixture file under `Fixtures/<folder>/`.
func fixture(_ name: String, in folder: String = "driver") throws -> String {
    let base = try #require(Bundle.module.resourceURL)
    let url = base.appendingPathComponent("Fixtures/\(folder)/\(name)")
    try #require(FileManager.default.fileExists(atPath: url.path), "missing fixture \(name)")
    return url.path
}

func fixtureText(_ name: String, in folder: String = "driver") throws -> String {
    String(decoding: try Data(contentsOf: URL(fileURLWithPath: try fixture(name, in: folder))), as: UTF8.self)
}

/// A fresh temporary folder, removed by the caller with `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("vmwd-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    func write(_ name: String, _ text: String) throws {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

func utc(_ text: String) -> Date {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy/MM/dd HH:mm:ss"
    return f.date(from: text) ?? .distantPast
}
