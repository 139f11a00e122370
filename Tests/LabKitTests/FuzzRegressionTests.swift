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

    /// Found by libFuzzer in the journal and the snapshot manifests (crash-c78ac40c…, crash-32f86073…):
    /// a time with a fraction of ~100 digits killed labctl with SIGFPE inside ICU's date parser.
    @Test(arguments: [("journal-crash-c78ac40c", "the stage journal"), ("manifest-crash-32f86073", "the snapshot manifest")])
    func aTimeWithAHugeFractionIsAnErrorNotACrash(fixture: String, file: String) throws {
        let path = try #require(Bundle.module.url(forResource: "Fixtures/fuzz/\(fixture)", withExtension: nil)).path
        let error = #expect(throws: LabError.self) {
            if fixture.hasPrefix("journal") { _ = try JournalState.read(path: path) } else { _ = try LabSnapshotManifest.read(path: path) }
        }
        #expect(error?.message == "cannot read \(file)")
        let cause = error?.cause.map { String(describing: $0) } ?? ""
        #expect(cause.contains("not an ISO 8601 time"), "\(cause)")
    }

    @Test(arguments: [
        "2026-11-27T10:01:12.503Z", "2026-11-27T10:01:12Z", "2026-11-27T10:01:12.123456789+05:30", "2026-11-27T10:01:12.5-08:00",
    ])
    func timesOfTheShapeLabctlWritesPass(text: String) {
        #expect(JournalState.hasISOTimeShape(text))
    }

    @Test(arguments: [
        "2026-11-27T10:01:12.5000000000Z", "2026-11-27T10:01:12.Z", "2026-11-27T10:01:12", "2026-11-27 10:01:12Z",
        "2026-11-27T10:01:12.503Zx", "2026-11-27T10:01:12+0530", "2026-11-27T10:01:12.503+05:30:00", "", "２026-11-27T10:01:12Z",
    ])
    func otherTimesNeverReachICU(text: String) {
        #expect(!JournalState.hasISOTimeShape(text))
    }

    @Test func aJournalWithConsistentSequencesStillReads() throws {
        let json = #"{"entries":[{"duration":1,"ended":"2026-11-27T10:01:12.503Z","outcome":"done","scope":"lab","sequence":7,"#
            + #""stage":"base.check","started":"2026-11-27T10:01:11.503Z"}],"nextSequence":8,"version":1}"#
        let journal = try JournalState.decode(Data(json.utf8), path: "journal.json")
        #expect(journal.position == 7)
    }
}
