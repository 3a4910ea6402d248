import Foundation

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
        var args = ["cube", "worker", storeLocation, "--shard", "\(shards)", "--shard-env", "JOB_COMPLETION_INDEX",
                    "--attempts", "\(attempts)"]
        for t in time { args += ["--time", t] }
        if let bbox { args += ["--bbox", bbox.map { "\($0)" }.joined(separator: ",")] }
        return args + workerArguments
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
