import Foundation

/// The JSON Schema (draft 2020-12) of lab.json's input format.
///
/// The one source is `schema/lab.schema.json` in the repository (editors point
/// `$schema` at it); `scripts/embed-schema` copies it into `LabSchema.json` so the
/// binary carries it for `labctl schema`. `LabSchemaTests` proves the copies are equal.
public enum LabSchema {}
