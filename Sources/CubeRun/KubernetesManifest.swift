import CubeJobs
import Foundation

/// `--executor kubernetes`: writes an Indexed Job manifest (`--emit FILE`, '-' for standard
/// output) for `kubectl apply`, and returns. It is a `ManifestExecutor`, not an `Executor`:
/// cube holds no cluster credentials and does not follow the pods; they share only the store,
/// and `cube status` (or a later `cube run`, which publishes their work) follows them.
public struct KubernetesExecutor: ManifestExecutor, RegisteredExecutor {
    public static let name = "kubernetes"
    public static let exclusiveOptions = ["emit"]
    public let emitPath: String
    public let image: String
    public let shards: Int
    public let parallelism: Int?

    /// `--emit FILE` (required), `--image`, `--workers` shards (default 16), `--parallelism`.
    public static func make(_ options: ExecutorOptions) throws -> ResolvedExecutor {
        guard let emit = options.value("emit") else {
            throw JobError("--executor kubernetes needs --emit FILE (the manifest to apply)")
        }
        return .manifest(KubernetesExecutor(
            emitPath: emit, image: options.value("image") ?? "ghcr.io/example/cube:latest", shards: options.workers ?? 16,
            parallelism: options.value("parallelism").flatMap { Int($0) }))
    }

    public func emit(_ request: ManifestRequest) throws -> String {
        let manifest = KubernetesManifest(
            storeLocation: request.storeLocation, image: image, shards: shards, parallelism: parallelism,
            attempts: request.attempts, time: request.time, bbox: request.bbox, workerArguments: request.workerArguments)
        let yaml = manifest.yaml()
        if emitPath == "-" {
            FileHandle.standardOutput.write(Data(yaml.utf8))
            return ""
        }
        try yaml.write(toFile: emitPath, atomically: true, encoding: .utf8)
        return "wrote \(emitPath): an Indexed Job of \(manifest.shards) shards; run it with `kubectl apply -f \(emitPath)` and follow it with `cube status \(request.storeLocation)`"
    }
}

/// A Kubernetes Indexed Job whose pods each run `cube worker --shard $JOB_COMPLETION_INDEX/N`:
/// completionMode Indexed, `completions` = shards, `backoffLimitPerIndex` so one failing shard
/// does not fail the others, `podFailurePolicy` so a spec error (exit 2) is not retried.
/// The store must be reachable from the pods (object storage, or a shared volume mounted at
/// the same path).
public struct KubernetesManifest {
    public var storeLocation: String
    public var image: String
    public var shards: Int
    public var parallelism: Int?
    public var attempts: Int
    public var time: [String]
    public var bbox: [Double]?
    public var workerArguments: [String]
    public var name: String

    public init(storeLocation: String, image: String, shards: Int, parallelism: Int?, attempts: Int,
                time: [String], bbox: [Double]?, workerArguments: [String], name: String = "cube-worker") {
        self.storeLocation = storeLocation
        self.image = image
        self.shards = max(1, shards)
        self.parallelism = parallelism
        self.attempts = attempts
        self.time = time
        self.bbox = bbox
        self.workerArguments = workerArguments
        self.name = name
    }

    public var command: [String] {
        ["cube"] + WorkerProtocol.shardArguments(
            store: storeLocation, index: .environment("JOB_COMPLETION_INDEX"), count: shards, attempts: attempts,
            selection: WorkerProtocol.selectionArguments(time: time, bbox: bbox), workerArguments: workerArguments)
    }

    public func yaml() -> String {
        let cmd = command.map(Self.quoted).joined(separator: ", ")
        return """
        # Written by `cube run --executor kubernetes`. Apply with `kubectl apply -f FILE`;
        # follow with `cube status \(storeLocation)`. Every pod builds the jobs of its shard that
        # are not done yet, so re-applying after a partial run only builds what is missing.
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: \(name)
          labels: {app.kubernetes.io/name: cube, app.kubernetes.io/component: worker}
        spec:
          completionMode: Indexed
          completions: \(shards)
          parallelism: \(parallelism ?? shards)
          backoffLimitPerIndex: 2
          maxFailedIndexes: \(shards)
          podFailurePolicy:
            rules:
              - action: FailIndex        # exit 2 = bad spec or arguments: retrying cannot help
                onExitCodes: {containerName: worker, operator: In, values: [2]}
          template:
            metadata:
              labels: {app.kubernetes.io/name: cube, app.kubernetes.io/component: worker}
            spec:
              restartPolicy: Never
              containers:
                - name: worker
                  image: \(Self.quoted(image))
                  command: [\(cmd)]
                  resources:
                    requests: {cpu: "1", memory: 1Gi}
                    limits: {memory: 2Gi}

        """
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
