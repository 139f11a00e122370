import Foundation
import LabKit
import Mustache

/// What a template says to do to a clone's VMX: keys to set, in order, and keys to remove.
public struct VMXSettings: Sendable {
    public var set: [(key: String, value: String)]
    public var remove: [String]
    public init(set: [(key: String, value: String)] = [], remove: [String] = []) {
        self.set = set
        self.remove = remove
    }

    public func value(_ key: String) -> String? {
        set.last { $0.key.lowercased() == key.lowercased() }?.value
    }
}

/// The vmx-templates: Mustache templates (swift-mustache) for what labctl writes into a
/// node's VMX. Built-in copies are embedded in the binary; a `vmx-templates/` folder next
/// to lab.json replaces them file by file (`<name>.vmx.mustache`).
public struct VMXTemplates: Sendable {
    /// Template name -> (text, where it came from).
    public private(set) var sources: [String: (text: String, origin: String)]

    public static let fileExtension = ".vmx.mustache"
    /// A rendered comment line of this form deletes a key.
    public static let removeDirective = "labctl:remove"

    /// The built-in templates only.
    public static var builtIn: VMXTemplates {
        VMXTemplates(sources: EmbeddedVMXTemplates.all.mapValues { ($0, "built-in") })
    }

    init(sources: [String: (text: String, origin: String)]) { self.sources = sources }

    /// Built-in templates, overridden by `<labDirectory>/vmx-templates/*.vmx.mustache` when that folder exists.
    public static func load(labDirectory: String?) throws -> VMXTemplates {
        var t = builtIn
        guard let labDirectory else { return t }
        let dir = (labDirectory as NSString).appendingPathComponent("vmx-templates")
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else { return t }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw LabError(.invalidInput, "cannot read the vmx-templates folder", location: .file(dir), cause: error)
        }
        for name in names.sorted() where name.hasSuffix(fileExtension) {
            let path = (dir as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw LabError(.invalidInput, "cannot read the template as UTF-8 text", location: .file(path))
            }
            t.sources[String(name.dropLast(fileExtension.count))] = (text, path)
        }
        return t
    }

    public var names: [String] { sources.keys.sorted() }

    /// Renders the template `node.template` for a node of `lab`.
    public func render(node: NodeSpec, lab: Lab) throws -> VMXSettings {
        guard let main = sources[node.template] else {
            throw LabError(.invalidInput, "no vmx-template named \"\(node.template)\" for node \(node.name)",
                           location: .lab("node \(node.name) template"),
                           hint: "use one of: \(names.filter { $0 != "common" }.joined(separator: ", ")), or add vmx-templates/\(node.template)\(Self.fileExtension) next to lab.json")
        }
        var library = MustacheLibrary()
        for (name, source) in sources {
            do { try library.register(source.text, named: name) } catch {
                throw LabError(.invalidInput, "vmx-template \(name) is not valid Mustache", location: .file(source.origin), cause: error)
            }
        }
        guard let rendered = library.render(try Self.context(node: node, lab: lab), withTemplate: node.template) else {
            throw LabError(.internalError, "cannot render vmx-template \(node.template)", location: .file(main.origin))
        }
        return try Self.settings(fromRendered: rendered, source: "\(main.origin) (rendered for \(node.name))")
    }

    /// Turns rendered text into settings: `key = "value"` lines set, `# labctl:remove KEY` lines remove.
    public static func settings(fromRendered text: String, source: String) throws -> VMXSettings {
        let doc = try VMXDocument.parse(text, source: source)
        var result = VMXSettings()
        for line in doc.lines {
            switch line {
            case .entry(let key, let value, _):
                result.set.append((key, value))
            case .verbatim(let raw):
                let t = raw.trimmingCharacters(in: .whitespaces)
                guard t.hasPrefix("#") else { continue }
                let body = t.dropFirst().trimmingCharacters(in: .whitespaces)
                if body.hasPrefix(removeDirective) {
                    let key = body.dropFirst(removeDirective.count).trimmingCharacters(in: .whitespaces)
                    guard VMXDocument.isValidKey(key) else {
                        throw LabError(.invalidInput, "\(removeDirective) needs a VMX key, got \"\(key)\"", location: .file(source))
                    }
                    result.remove.append(key)
                }
            }
        }
        return result
    }

    /// The values templates can use; every string is VMX-escaped already.
    static func context(node: NodeSpec, lab: Lab) throws -> [String: Any] {
        // numvcpus must be a multiple of coresPerSocket (one socket here); the size rules live in NodeSpec.sizeProblems.
        if let p = node.sizeProblems.first {
            throw LabError(.invalidInput, p.message, location: .lab("node \(node.name) \(p.key)"), hint: p.hint)
        }
        let vmnet = lab.network.vmnet
        // `nat` means the NAT vmnet (vmnet8 by default); another vmnet needs `custom` + `vnet` (docs/vmware-driver.md, "Keys the templates set").
        let isDefaultNAT = vmnet.lowercased() == "vmnet8"
        let e = VMXDocument.escape
        var ctx: [String: Any] = [
            "displayName": e(node.name),
            "node": e(node.name),
            "cpus": String(node.cpus),
            "coresPerSocket": String(node.cpus),
            "memoryMiB": String(node.memoryMiB),
            "mac": node.mac.description,
            "connectionType": isDefaultNAT ? "nat" : "custom",
            "role": node.role.rawValue,
            "address": node.address.description,
            "prefixLength": String(lab.network.subnet.prefixLength),
            "gateway": lab.network.gateway.description,
            "lab": e(lab.name),
            "cluster": e(lab.cluster(of: node)?.name ?? ""),
            "isControlPlane": node.role == .controlPlane,
            "isWorker": node.role == .worker,
        ]
        if !isDefaultNAT { ctx["vnet"] = e(vmnet) }
        return ctx
    }
}
