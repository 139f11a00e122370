import Foundation
import LabKit
import Testing
@testable import LabCache

/// Writes an image (manifest, config, layers) straight into a store, as a fill would leave it.
func storeImage(_ store: CacheStore, reference: ImageReference, platform: String, layers: [Data]) throws -> CacheEntry {
    let config = Data(#"{"architecture":"\#(platform.split(separator: "/").last ?? "")","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
    var blobs = [config] + layers
    let layerJSON = layers.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:\#(sha256($0))","size":\#($0.count)}"# }
    let manifest = Data(("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
        + "\"digest\":\"sha256:\(sha256(config))\",\"size\":\(config.count)},\"layers\":[\(layerJSON.joined(separator: ","))]}").utf8)
    blobs.append(manifest)
    for blob in blobs {
        let path = store.blobPath(sha256(blob))
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try blob.write(to: URL(fileURLWithPath: path))
    }
    let entry = CacheEntry(name: reference.name, version: reference.tag ?? reference.digest ?? "-", kind: .image,
                           source: CachedImage.source(reference, platform: platform), checksumURL: nil, sha256: sha256(manifest),
                           size: Int64(blobs.reduce(0) { $0 + $1.count }), fetchedAt: Date(timeIntervalSince1970: 0),
                           image: CachedImage(reference: reference.description, platform: platform,
                                              manifestMediaType: "application/vnd.oci.image.manifest.v1+json", indexDigest: nil))
    try store.write(try store.entries().filter { $0.source != entry.source } + [entry])
    return entry
}

@Suite struct ImageStoreTests {
    @Test func imageEntryIsPerPlatformAndVerifiedImageRehashesEveryBlob() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = CacheStore(root: root)
        let pause = try ImageReference(parsing: "registry.k8s.io/pause:3.10.1")
        let layers = [Data("layer one".utf8), Data("layer two".utf8)]
        let entry = try storeImage(store, reference: pause, platform: "linux/amd64", layers: layers)
        #expect(try store.imageEntry(pause, platform: "linux/amd64") == entry)
        #expect(try store.imageEntry(pause, platform: "linux/arm64") == nil)
        let blobs = try #require(try store.verifiedImage(entry))
        #expect(blobs.layerDigests == layers.map(sha256))
        #expect(blobs.layerMediaTypes == Array(repeating: "application/vnd.oci.image.layer.v1.tar+gzip", count: 2))
        #expect(sha256(blobs.manifest) == entry.sha256)

        // A corrupt layer, then a missing config: the image is never handed out.
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.blobPath(sha256(layers[1]))))
        #expect(try store.verifiedImage(entry) == nil)
        try Data("layer two".utf8).write(to: URL(fileURLWithPath: store.blobPath(sha256(layers[1]))))
        #expect(try store.verifiedImage(entry) != nil)
        try FileManager.default.removeItem(atPath: store.blobPath(blobs.configDigest))
        #expect(try store.verifiedImage(entry) == nil)
    }

    @Test func anIndexWrittenBeforeImagesStillReads() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let old = #"{"version":1,"entries":[{"name":"kubeadm","version":"1.36.1","kind":"file","source":"https://dl.k8s.io/x","sha256":"\#(String(repeating: "a", count: 64))","size":3,"fetchedAt":"2026-01-01T00:00:00Z"}]}"#
        try Data(old.utf8).write(to: URL(fileURLWithPath: root + "/index.json"))
        let entries = try CacheStore(root: root).entries()
        #expect(entries.count == 1 && entries.first?.image == nil && entries.first?.kind == .file)
    }
}
