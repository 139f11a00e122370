import ArgumentParser
import Foundation
import Testing
@testable import LabctlCLI

/// Every `labctl …` a user can read names a real command: the error hints and other strings in
/// Sources, the help text of every command (abstract, discussion, options), README.md and docs/*.md,
/// each checked against the real command tree (`Labctl.configuration`, recursively, with aliases) and
/// the options of the command it reaches.
///
/// A mention is `labctl` followed by words. When its first word is a command, every following word
/// that could be a command or an option is checked. When it is not, it is prose ("labctl never
/// deletes…") unless it is written as a command: in code (backticks, a code block, an EXAMPLES line),
/// in parentheses of its own ("(labctl down)"), after "run", "re-run", "try", "use", "or", "then", or
/// followed by an option. Checking stops at `--` (the end of labctl's options).
@Suite struct CommandMentionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Mention: CustomStringConvertible {
        var words: [String]
        var asCommand: Bool
        var source: String
        var description: String { "\(source): labctl \(words.joined(separator: " "))" }
    }

    // MARK: The command tree

    static func name(_ command: ParsableCommand.Type) -> String { command._commandName }

    /// The long options a command's help lists (its own and its option groups').
    static func options(_ command: ParsableCommand.Type) -> Set<String> {
        let help = Labctl.helpMessage(for: command, columns: 400)
        guard let range = help.range(of: "OPTIONS:") else { return ["--help"] }
        let text = String(help[range.upperBound...])
        let regex = /--[a-z][a-z0-9-]*/
        return Set(text.matches(of: regex).map { String($0.output) })
    }

    /// Why `words` is not a labctl command line, or nil when it is.
    static func problem(_ words: [String]) -> String? {
        var command: ParsableCommand.Type = Labctl.self
        var path = ["labctl"]
        for word in words {
            if word.hasPrefix("--") {
                let option = String(word.split(separator: "=", maxSplits: 1).first ?? "")
                if !options(command).contains(option) {
                    return "\(path.joined(separator: " ")) has no option \(option)"
                }
                continue
            }
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { continue }  // a leaf: the rest are its arguments
            guard isWord(word) else { continue }
            guard let next = subcommands.first(where: { name($0) == word || $0.configuration.aliases.contains(word) }) else {
                return "\(path.joined(separator: " ")) has no subcommand \(word) (it has \(subcommands.map(name).joined(separator: ", ")))"
            }
            command = next
            path.append(word)
        }
        return nil
    }

    static func isWord(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isLowercase || $0 == "-" } && s.first?.isLetter == true
    }

    // MARK: Finding mentions

    static let triggers: Set<String> = ["run", "re-run", "rerun", "try", "use", "or", "then"]

    /// The mentions in `text`. `code`: the whole text is code (a backtick span, a code line).
    static func mentions(in text: String, code: Bool, source: String) -> [Mention] {
        var found: [Mention] = []
        var rest = text[...]
        while let hit = rest.range(of: "labctl ") {
            defer { rest = rest[hit.upperBound...] }
            let before = rest[..<hit.lowerBound]
            if let c = before.last, c.isLetter || c.isNumber || "-_./@".contains(c) { continue }
            var words: [String] = []
            var closedByParenthesis = false
            for token in rest[hit.upperBound...].split(separator: " ") {
                if token.hasPrefix("(") || token.hasPrefix("`") || token.hasPrefix("\"") || token == "--" { break }
                let trimmed = token.trimmingCharacters(in: CharacterSet(charactersIn: ",;.)`\"':"))
                if trimmed.isEmpty { break }
                words.append(trimmed)
                if trimmed != token {
                    closedByParenthesis = token.contains(")")
                    break
                }
            }
            guard let first = words.first, isWord(first) || first.hasPrefix("--") else { continue }
            let previous = before.split(separator: " ").last.map(String.init) ?? ""
            // "(labctl down)", "re-run labctl up", "labctl down --hard": written as a command.
            let written = code || (previous.hasSuffix("(") && closedByParenthesis && words.count <= 3)
                || triggers.contains(previous.lowercased()) || words.dropFirst().contains { $0.hasPrefix("--") }
            found.append(Mention(words: words, asCommand: written, source: source))
        }
        return found
    }

    /// Markdown: backtick spans and code-block lines are code; the rest is prose.
    static func markdownMentions(_ text: String, source: String) -> [Mention] {
        var found: [Mention] = []
        var inBlock = false
        for (n, line) in text.components(separatedBy: "\n").enumerated() {
            let at = "\(source):\(n + 1)"
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                inBlock.toggle()
                continue
            }
            if inBlock {
                var command = line.trimmingCharacters(in: .whitespaces)
                if command.hasPrefix("$ ") { command.removeFirst(2) }
                guard command.hasPrefix("labctl ") else { continue }
                for stop in [" #", " |", " &&", ";"] {
                    if let r = command.range(of: stop) { command = String(command[..<r.lowerBound]) }
                }
                found += mentions(in: command, code: true, source: at)
                continue
            }
            let spans = line.components(separatedBy: "`")
            for (i, span) in spans.enumerated() {
                let isCode = i % 2 == 1
                found += mentions(in: isCode ? span : span, code: isCode, source: at)
            }
        }
        return found
    }

    /// The string literals of a Swift file, outside comments; interpolations become `X`.
    static func stringLiterals(_ text: String) -> [String] {
        var out: [String] = []
        let chars = Array(text)
        var i = 0
        func starts(_ s: String, _ at: Int) -> Bool {
            let c = Array(s)
            return at + c.count <= chars.count && Array(chars[at..<at + c.count]) == c
        }
        while i < chars.count {
            if starts("//", i) {
                while i < chars.count, chars[i] != "\n" { i += 1 }
            } else if starts("/*", i) {
                while i < chars.count, !starts("*/", i) { i += 1 }
                i += 2
            } else if chars[i] == "\"" {
                let multi = starts("\"\"\"", i)
                i += multi ? 3 : 1
                var literal = ""
                while i < chars.count {
                    if multi ? starts("\"\"\"", i) : chars[i] == "\"" { i += multi ? 3 : 1; break }
                    if !multi, chars[i] == "\n" { break }
                    if chars[i] == "\\", i + 1 < chars.count {
                        if chars[i + 1] == "(" {
                            var depth = 0
                            i += 1
                            repeat {
                                if chars[i] == "(" { depth += 1 } else if chars[i] == ")" { depth -= 1 }
                                i += 1
                            } while depth > 0 && i < chars.count
                            literal += "X"
                            continue
                        }
                        if chars[i + 1] == "\n" { i += 2; continue }  // line continuation
                        literal.append(chars[i + 1] == "n" ? "\n" : chars[i + 1])
                        i += 2
                        continue
                    }
                    literal.append(chars[i])
                    i += 1
                }
                out.append(literal)
            } else {
                i += 1
            }
        }
        return out
    }

    /// Help text: the lines of an EXAMPLES block (`  labctl …  description`) and backtick spans are code.
    static func helpMentions(_ text: String, source: String) -> [Mention] {
        var found: [Mention] = []
        var inExamples = false
        for line in text.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasSuffix("EXAMPLES:") { inExamples = true; continue }
            if trimmed.isEmpty { inExamples = false }
            if inExamples, trimmed.hasPrefix("labctl ") {
                let command = trimmed.components(separatedBy: "  ").first ?? trimmed
                found += mentions(in: command, code: true, source: source)
                continue
            }
            for (i, span) in line.components(separatedBy: "`").enumerated() {
                found += mentions(in: span, code: i % 2 == 1, source: source)
            }
        }
        return found
    }

    static func everyCommand(_ command: ParsableCommand.Type = Labctl.self) -> [ParsableCommand.Type] {
        [command] + command.configuration.subcommands.flatMap { everyCommand($0) }
    }

    static func allMentions() throws -> [Mention] {
        var found: [Mention] = []
        let fm = FileManager.default
        let sources = root.appendingPathComponent("Sources")
        let files = (fm.enumerator(atPath: sources.path)?.allObjects as? [String] ?? []).filter {
            // labctl-bench is a developer tool; its reports name labctl's own parts, not commands.
            $0.hasSuffix(".swift") && !$0.hasPrefix("labctl-bench/")
        }
        for file in files.sorted() {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for literal in stringLiterals(text) { found += helpMentions(literal, source: "Sources/\(file)") }
        }
        for command in everyCommand() {
            found += helpMentions(Labctl.helpMessage(for: command, columns: 400), source: "labctl \(name(command)) --help")
        }
        var docs = ["README.md"]
        docs += (try fm.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)).filter { $0.hasSuffix(".md") }.map { "docs/\($0)" }
        for doc in docs.sorted() {
            found += markdownMentions(try String(contentsOf: root.appendingPathComponent(doc), encoding: .utf8), source: doc)
        }
        return found
    }

    // MARK: Tests

    @Test func everyMentionNamesARealCommand() throws {
        let mentions = try Self.allMentions()
        #expect(mentions.count > 200, "the walker finds the mentions (\(mentions.count))")
        var problems: [String] = []
        for mention in mentions {
            let first = mention.words.first ?? ""
            let isCommand = Labctl.configuration.subcommands.contains { Self.name($0) == first || $0.configuration.aliases.contains(first) }
            guard isCommand || mention.asCommand else { continue }  // prose: "labctl never deletes …"
            if let problem = Self.problem(mention.words) { problems.append("\(mention): \(problem)") }
        }
        #expect(problems.isEmpty, "mentions of commands that do not exist:\n\(problems.joined(separator: "\n"))")
    }

    @Test func theCheckerRefusesWhatDoesNotExist() {
        #expect(Self.problem(["up", "--from", "node.identity"]) == nil)
        #expect(Self.problem(["snapshot", "restore", "snapshot#2"]) == nil)
        #expect(Self.problem(["net", "apply", "--root", "/tmp/x"]) == nil)
        #expect(Self.problem(["down"]) != nil)
        #expect(Self.problem(["node", "start"]) != nil)
        #expect(Self.problem(["snapshot", "remove", "x"]) != nil)
        #expect(Self.problem(["up", "--hard"]) != nil)
    }

    @Test func theWalkerTellsCommandsFromProse() {
        let found = Self.mentions(in: "stop it first (labctl down); labctl never deletes it (labctl does not run them); re-run labctl up --from x.",
                                  code: false, source: "t")
        #expect(found.map(\.words) == [["down"], ["never", "deletes", "it"], ["does", "not", "run", "them"], ["up", "--from", "x"]])
        #expect(found.map(\.asCommand) == [true, false, false, true])
        let literals = Self.stringLiterals(#"let a = "run labctl \(x) up" // "labctl down""# + "\n")
        #expect(literals == ["run labctl X up"])
        let md = Self.markdownMentions("run `labctl snapshot list` now\n```sh\n$ labctl status # nodes\n```\n", source: "t")
        #expect(md.map(\.words) == [["snapshot", "list"], ["status"]])
    }
}
