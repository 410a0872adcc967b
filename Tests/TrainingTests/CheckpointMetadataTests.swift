import Testing
import Training

/// Checkpoints written before `CheckpointMetadata` existed must still load, and a checkpoint's
/// metadata must be written as it always was, string for string.
struct CheckpointMetadataTests {
    /// The metadata of a checkpoint written by the build before `CheckpointMetadata` (`vae train
    /// --limit 2048 --epochs 2 --test-images 500`, step 16), without its data_sha256, with the
    /// running totals of a mid-epoch checkpoint.
    static let landed: [String: String] = [
        "batch_size": "128", "beta_1": "0.9", "beta_2": "0.999", "checkpoint_every": "none",
        "dataset_sha256": "c5097fdd51cfdbe7695fd9df3612695696864b5c424f58d843ffdc5d335e9914",
        "epoch": "1", "epoch_kl_sum": "7.25390625", "epoch_reconstruction_sum": "1602.0078125", "epoch_steps": "3",
        "epochs_planned": "2", "epsilon": "1e-07", "format": "vae-training-checkpoint", "format_version": "1",
        "keep_checkpoints": "3", "kl_weight": "1.0", "latent_dim": "2", "learning_rate": "0.001", "limit": "2048",
        "micro_batch_size": "16", "seed": "1", "step": "19", "step_in_epoch": "3", "test_images": "500", "world_size": "1",
    ]

    @Test func landedMetadataReadsAndIsWrittenBackTheSame() throws {
        let m = try CheckpointMetadata(Self.landed), s = m.settings
        #expect(m.step == 19 && m.epoch == 1 && m.stepInEpoch == 3 && s.epochs == 2 && s.testImages == 500)
        #expect(s.checkpointEvery == nil && s.keepCheckpoints == 3 && s.limit == 2048 && m.worldSize == 1)
        #expect(s.shape == .seed && s.batchSize == 128 && s.microBatchSize == 16 && s.klWeight == 1 && s.seed == 1)
        #expect(s.adam.learningRate == 0.001 && s.adam.beta1 == 0.9 && s.adam.beta2 == 0.999 && s.adam.epsilon == 1e-7)
        #expect(m.epochTotals == EpochTotals(reconstruction: 1602.0078125, kl: 7.25390625, steps: 3))
        // Settings added since read as their defaults, and are written with them.
        #expect(s.precision == .fp32 && s.shape.encoderWidth == 16 && s.cosineDecayEpochs == nil)
        #expect(m.strings == Self.landed.merging(["precision": "fp32", "encoder_width": "16", "cosine_decay_epochs": "none"]) { $1 })
    }

    /// Each setting has a flag and a checkpoint key of its own, and its default reads back
    /// from its text as a value its check accepts.
    @Test func everySettingIsDeclaredConsistently() throws {
        let settings = TrainingConfiguration.settings, keys = settings.compactMap(\.key)
        #expect(Set(keys).count == keys.count && Set(settings.map(\.flag)).count == settings.count)
        #expect(settings.allSatisfy { ($0.key == nil) == ($0.role == .local) })
        for setting in settings {
            #expect(setting.accepts(setting.text(TrainingConfiguration())), "--\(setting.flag)'s default")
        }
        #expect(Set(try CheckpointMetadata(Self.landed.merging(["step": "0"]) { $1 }).strings.keys).isSuperset(of: keys))
    }

    @Test func olderCheckpointsWithoutLaterKeysTakeTheirDefaults() throws {
        var older = Self.landed
        for key in ["kl_weight", "checkpoint_every", "keep_checkpoints"] { older[key] = nil }
        let m = try CheckpointMetadata(older)
        #expect(m.settings.klWeight == 1 && m.settings.checkpointEvery == nil)
        let resumed = TrainingConfiguration(resuming: m, overrides: { $0.epochs = 5 })
        #expect(resumed.keepCheckpoints == TrainingConfiguration().keepCheckpoints)
        #expect(resumed.epochs == 5 && resumed.batchSize == 128 && resumed.limit == 2048 && resumed.testImages == 500)
    }

    @Test func aResumeContinuesWithTheSavedSettingsUnlessOverridden() throws {
        var saved = Self.landed
        saved["checkpoint_every"] = "7"
        saved["learning_rate"] = "0.0005"
        let m = try CheckpointMetadata(saved)
        let kept = TrainingConfiguration(resuming: m, overrides: { _ in })
        #expect(kept.checkpointEvery == 7 && kept.adam.learningRate == 0.0005 && kept.microBatchSize == 16)
        #expect(RunIdentity(kept, dataset: m.dataset) == m.identity)
        let changed = TrainingConfiguration(resuming: m, overrides: { $0.adam.learningRate = 0.002 })
        #expect(m.identity.differences(from: RunIdentity(changed, dataset: m.dataset)).map(\.description)
                == ["learning rate 0.0005 (this run asks for 0.002)"])
    }

    @Test(arguments: [
        ("format_version", nil, "not a training checkpoint (no format_version in its metadata): it holds weights only and cannot be resumed"),
        ("format_version", "2", "checkpoint format version 2 is not supported (this build reads 1)"),
        ("step", nil, "metadata has no step"),
        ("seed", "one", "metadata seed is 'one', not a number"),
        ("limit", "", "metadata limit is '', not a number"),
        ("latent_dim", "0", "metadata latent_dim 0 is out of range"),
        ("epoch", "-1", "metadata has a negative position"),
        ("epochs_planned", "0", "metadata epochs_planned 0 is out of range"),
        ("kl_weight", "-1.0", "metadata kl_weight -1.0 is out of range"),
    ] as [(String, String?, String)])
    func badMetadataIsRefusedWithItsReason(key: String, value: String?, message: String) {
        var bad = Self.landed
        bad[key] = value
        #expect(throws: CheckpointMetadata.Problem.self) { try CheckpointMetadata(bad) }
        do {
            _ = try CheckpointMetadata(bad)
        } catch {
            #expect(error.description == message)
        }
    }
}
