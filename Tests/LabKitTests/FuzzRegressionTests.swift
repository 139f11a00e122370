import Foundation
import Testing
@testable import LabKit

/// Inputs that crashed or hung a parser (docs/robustness.md, "Fuzzing"), each kept as a fixture
/// under Fixtures/fuzz/ and answered with a clear error now.
@Suite struct FuzzRegressionTests {
    /// `nextSequence: 0` decoded, and `position` (`nextSequence - 1`) trapped on the UInt64
    /// underflow: `labctl plan` or `snapshot save` on such a journal crashed.
    @Test func aJournalWithNextSequenceZeroIsRefusedAsDamaged() throws {
        let path = try #require(Bundle.module.url(forResource: "Fixtures/fuzz/journal-next-sequence-0.json", withExtension: nil)).path
        let error = #expect(throws: LabError.self) { try JournalState.read(path: path) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message == "the stage journal is damaged: nextSequence is 0; sequence numbers start at 1")
        #expect(error?.location == .file(path))
        #expect(error?.hint == JournalState.unreadableHint)
    }

    /// The same family: a `nextSequence` that would trap on the next `+= 1`, or one at or below an
    /// entry's sequence (a sequence handed out twice breaks the resume rules).
    @Test(arguments: [
        (#"{"entries":[],"nextSequence":18446744073709551615,"version":1}"#, "no sequence number is left"),
        (#"{"entries":[{"duration":1,"ended":"2026-11-27T10:01:12.503Z","outcome":"done","scope":"lab","sequence":7,"#
            + #""stage":"base.check","started":"2026-11-27T10:01:11.503Z"}],"nextSequence":7,"version":1}"#,
         "base.check@lab has sequence 7, not below nextSequence 7"),
    ])
    func impossibleSequencesAreRefused(json: String, says: String) throws {
        let error = #expect(throws: LabError.self) { try JournalState.decode(Data(json.utf8), path: "journal.json") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains(says) == true, "\(error?.message ?? "no error")")
    }

    @Test func aJournalWithConsistentSequencesStillReads() throws {
        let json = #"{"entries":[{"duration":1,"ended":"2026-11-27T10:01:12.503Z","outcome":"done","scope":"lab","sequence":7,"#
            + #""stage":"base.check","started":"2026-11-27T10:01:11.503Z"}],"nextSequence":8,"version":1}"#
        let journal = try JournalState.decode(Data(json.utf8), path: "journal.json")
        #expect(journal.position == 7)
    }
}
