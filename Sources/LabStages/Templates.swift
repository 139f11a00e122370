import Foundation
import LabKit
import Mustache

/// The embedded script and manifest templates, parsed once, and a strict render.
///
/// swift-mustache 2.1 renders a name the context does not have as empty text and has no option to
/// refuse it (`MustacheTemplate.render` returns a `String`, never throws). So every template's tags
/// are read once, when the library is built, and each render first checks them against the encoded
/// context the way Mustache resolves names (innermost section first, then outwards; `a.b` then
/// descends): a name the context lacks fails the render with the template and the name. Sections
/// that would not render (false, null, an empty list) are not checked inside, since their names
/// may be absent on purpose (a Docker-only field under `{{#flags.docker}}` for a containerd profile).
struct Templates: Sendable {
    /// Partials shared by the scripts (`{{> _lib}}`).
    static let partials = ["_header", "_lib", "_oscheck", "_netplan", "_mesh", "_archcheck"]

    /// Parsed once per process; a template that does not parse fails every render with the same error.
    static let shared: Result<Templates, LabError> = {
        do {
            return .success(try Templates())
        } catch let error as LabError {
            return .failure(error)
        } catch {
            return .failure(LabError(.internalError, "the embedded templates cannot be read", location: .file("Sources/LabStages/Resources"), cause: error))
        }
    }()

    let library: MustacheLibrary
    /// Each template's tags, by library name (`scripts/cni`, `manifests/netplan.yaml`, `_lib`).
    let tags: [String: [Tag]]

    init() throws {
        var library = MustacheLibrary()
        var tags: [String: [Tag]] = [:]
        // Text content type: nothing is HTML-escaped.
        let pragma = "{{% CONTENT_TYPE: TEXT}}\n"
        func register(_ kind: String, _ file: String, as name: String) throws {
            let text = try Self.text(kind, file)
            do {
                try library.register(pragma + text, named: name)
                tags[name] = try Tag.parse(text)
            } catch let error as LabError {
                throw error
            } catch {
                throw LabError(.internalError, "the embedded template \(kind)/\(file) does not parse", location: .file("Sources/LabStages/Resources/\(kind)/\(file)"),
                               cause: error)
            }
        }
        for partial in Self.partials { try register("scripts", partial + ".sh", as: partial) }
        for script in Set(StageScript.allCases.map(\.templateName)) { try register("scripts", script + ".sh", as: "scripts/\(script)") }
        for manifest in StageManifest.allCases { try register("manifests", manifest.templateName, as: "manifests/\(manifest.templateName)") }
        self.library = library
        self.tags = tags
    }

    static func text(_ kind: String, _ file: String) throws -> String {
        guard let url = EmbeddedResources.url(kind, file),
              let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            throw LabError(.internalError, "missing embedded resource \(kind)/\(file)", location: .file("Sources/LabStages/Resources/\(kind)/\(file)"))
        }
        return text
    }

    /// Renders `scripts/<name>` or `manifests/<name>.yaml` with `context`; fails on a name the context lacks.
    static func render(_ name: String, kind: String, context: some Encodable) throws -> String {
        let templates = try shared.get()
        let key = "\(kind)/\(name)"
        guard let tags = templates.tags[key] else {
            throw LabError(.internalError, "no embedded template \(key)", location: .file("Sources/LabStages/Resources/\(kind)"))
        }
        let value = try TemplateValue(encoding: context)
        try templates.check(tags, [value], in: key)
        guard let text = templates.library.render(value.mustacheObject, withTemplate: key) else {
            throw LabError(.internalError, "no embedded template \(key)", location: .file("Sources/LabStages/Resources/\(kind)"))
        }
        return text
    }

    func check(_ tags: [Tag], _ stack: [TemplateValue], in template: String) throws {
        for tag in tags {
            switch tag {
            case .variable(let name):
                _ = try resolve(name, stack, in: template)
            case .section(let name, let inverted, let inner):
                let value = try resolve(name, stack, in: template)
                switch (value, inverted) {
                case (.array(let items), false):
                    for item in items { try check(inner, stack + [item], in: template) }
                case (.bool(let on), false):
                    if on { try check(inner, stack, in: template) }
                case (.null, false):
                    break
                case (_, false):
                    try check(inner, stack + [value], in: template)
                case (_, true):
                    if value.isFalsy { try check(inner, stack, in: template) }
                }
            case .partial(let name):
                guard let partial = self.tags[name] else {
                    throw LabError(.internalError, "the template \(template) includes {{> \(name)}}, which is not embedded",
                                   location: .file("Sources/LabStages/Resources/scripts/\(name).sh"))
                }
                try check(partial, stack, in: template)
            }
        }
    }

    private func resolve(_ name: String, _ stack: [TemplateValue], in template: String) throws -> TemplateValue {
        let missing = LabError(.internalError, "the template \(template) uses {{\(name)}}, which its context does not have",
                               location: .file("Sources/LabStages/Resources/\(template.hasPrefix("manifests/") ? template : template + ".sh")"),
                               hint: "fix the name in the template, or add the field to the context type (ScriptContext)")
        guard name != "." else { return stack.last ?? .null }
        let parts = name.split(separator: ".").map(String.init)
        guard let first = parts.first, var value = stack.reversed().lazy.compactMap({ $0.child(first) }).first else { throw missing }
        for part in parts.dropFirst() {
            guard let child = value.child(part) else { throw missing }
            value = child
        }
        return value
    }
}

/// A tag of a template, as far as the check needs it.
indirect enum Tag: Sendable, Equatable {
    case variable(String)
    case section(String, inverted: Bool, [Tag])
    case partial(String)

    /// Reads `{{name}}`, `{{{name}}}`, `{{&name}}`, `{{#name}}…{{/name}}`, `{{^name}}…{{/name}}`,
    /// `{{> partial}}` and skips `{{! comments}}` and `{{% pragmas}}`. The templates do not change
    /// delimiters; a `{{=` tag is refused rather than misread.
    static func parse(_ text: String) throws -> [Tag] {
        var stack: [(name: String, inverted: Bool, tags: [Tag])] = [("", false, [])]
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            let triple = rest[open.upperBound...].hasPrefix("{")
            let closing = triple ? "}}}" : "}}"
            let start = triple ? rest.index(after: open.upperBound) : open.upperBound
            guard let close = rest[start...].range(of: closing) else {
                throw LabError(.internalError, "an unclosed tag: \(rest[open.lowerBound...].prefix(40))")
            }
            let body = rest[start..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            let sigil = triple ? nil : body.first
            let name = sigil.map { "#^/>&!%=".contains($0) } == true ? body.dropFirst().trimmingCharacters(in: .whitespaces) : body
            switch sigil {
            case "#", "^":
                stack.append((name, sigil == "^", []))
            case "/":
                guard stack.count > 1, let section = stack.popLast(), section.name == name else {
                    throw LabError(.internalError, "{{/\(name)}} closes no open section")
                }
                stack[stack.count - 1].tags.append(.section(name, inverted: section.inverted, section.tags))
            case ">":
                stack[stack.count - 1].tags.append(.partial(name))
            case "!", "%":
                continue
            case "=":
                throw LabError(.internalError, "templates must not change delimiters ({{=…=}})")
            default:
                stack[stack.count - 1].tags.append(.variable(name))
            }
        }
        guard stack.count == 1, let top = stack.first else {
            throw LabError(.internalError, "{{#\(stack.last?.name ?? "")}} is never closed")
        }
        return top.tags
    }
}

/// An encoded context: the JSON an `Encodable` context type writes, so the check sees exactly the
/// keys the render sees (a nil optional is absent unless its type writes an explicit null).
enum TemplateValue: Sendable, Decodable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([TemplateValue]), object([String: TemplateValue])

    init(encoding value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        self = try JSONDecoder().decode(TemplateValue.self, from: encoder.encode(value))
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([TemplateValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: TemplateValue].self)) }
    }

    func child(_ key: String) -> TemplateValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    var isFalsy: Bool {
        switch self {
        case .null, .bool(false): true
        case .array(let items): items.isEmpty
        default: false
        }
    }

    /// What swift-mustache renders: dictionaries, arrays, Bool, numbers, strings; null as `NSNull`
    /// (which it treats as absent, so `{{^base.address}}` renders for a null address).
    var mustacheObject: Any {
        switch self {
        case .null: NSNull()
        case .bool(let b): b
        case .int(let i): i
        case .double(let d): d
        case .string(let s): s
        case .array(let a): a.map(\.mustacheObject)
        case .object(let o): o.mapValues(\.mustacheObject)
        }
    }
}
