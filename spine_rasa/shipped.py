"""Fingerprints of the Rasa code our serving code replaces or overrides, as shipped in 3.6.21.

A patch (spine_rasa/fixes.py) or an override of a private method (spine_rasa/components.py,
spine_rasa/policies.py) is only right for the code it was written against. Each names the
functions it replaces or relies on here; a fingerprint is the SHA-256 of the function's source.
``fixes.apply()`` leaves out a patch whose function changed, the production start refuses to run
without them, and ``tests/unit/test_spine_rasa_guards.py`` fails on any change, so a Rasa update
cannot silently change what runs.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any, Dict, Iterable, List

# "module:qualified.name" -> SHA-256 of its source as shipped with Rasa 3.6.21.
SHIPPED: Dict[str, str] = {
    "rasa.utils.tensorflow.models:RasaModel.load": (
        "84fd81c0fdd01a8048de2d9b5b3022bdbf1e155f7b4d67737eb51ecb0787d292"
    ),
    "rasa.utils.tensorflow.models:RasaModel._rasa_predict": (
        "7f745b0f9cb647c9df9e5b04b318a7b93709daf9460bad4373970c6cf9f04d8f"
    ),
    "rasa.utils.tensorflow.models:RasaModel.run_inference": (
        "e628d03665d82d9df14e102b7b1757fc015b4caaec4fabcb6ee4b83125e296ac"
    ),
    "rasa.nlu.classifiers.diet_classifier:DIETClassifier._predict": (
        "228b5091ebd1894b30d828ffe3f5e616c769f6fe1bc7161a3b7f9789244e3948"
    ),
    "rasa.nlu.classifiers.diet_classifier:DIETClassifier._load_model_class": (
        "1f1f6ee6e1286f040c567e14db9e95e4e8da9c3403d1459fa8f4e3e5dff6a103"
    ),
    "rasa.nlu.selectors.response_selector:ResponseSelector._load_model_class": (
        "32a22bd9195908a36dd9835f4556c5dc4aca01ea65868d9b36a3331cff7c88d4"
    ),
    "rasa.utils.tensorflow.data_generator:RasaBatchDataGenerator.prepare_batch": (
        "6db38a978c11867feadfb74ecb811e697010679d82773370c881a1651eabc7a4"
    ),
    "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys": (
        "2915fd81711e194c6d667728e00bd0e51e9c1c2791a0be14c55f0ef9938f9936"
    ),
    "rasa.core.actions.action:RemoteAction._validate_action_result": (
        "f8cdb4be6812396167ced74161b2ccd65c5ea676ad86d7d359d8c322d9d8dc42"
    ),
    "rasa.core.actions.action:RemoteAction.action_response_format_spec": (
        "091b74aa3738d1262cf3c028386aaf9dd4f0d5c1374b62392411d70a79104a46"
    ),
    "rasa.core.actions.action:RemoteAction._action_call_format": (
        "428795b944f22edba142d278ec47a30098975b01463ba337ec447dade52a0492"
    ),
    "rasa.shared.core.trackers:DialogueStateTracker.current_state": (
        "a9f1526ceddf7a2871ca65f0f664bec9b06546942cdb37ff020e87747608244c"
    ),
    "rasa.shared.core.events:Event.resolve_by_type": (
        "b5cf570fa7f286c7059ec73d8880528d03a78b28cf4e80285a46079c0fa65968"
    ),
    "rasa.shared.core.slots:Slot": (
        "0a694d68aef367326f0d4714f862136245b05509efc5b037ab8c60fb3341e47e"
    ),
    "rasa.shared.nlu.training_data.features:Features._combine_sparse_features": (
        "9837d864e5983243704cf14616ef9abe181c6f141cc0f9b324c4310629cc133d"
    ),
    "rasa.engine.runner.dask:DaskGraphRunner": (
        "78a7d146c5c06d4cfd29638bbb20192183bfcd8cc69d2cb2be198c8e87a4c134"
    ),
    "rasa.core.run:load_agent_on_start": (
        "b23e12447febeb64dfe0e78f545c37affae1059858280485b1094707a2704214"
    ),
    "rasa.shared.core.domain:Domain.states_for_tracker_history": (
        "035111ce73ac90ba50e143abf556f924af07d9f452893f5a96a62895d44df8b7"
    ),
    "rasa.shared.core.trackers:DialogueStateTracker.generate_all_prior_trackers": (
        "a1f6954347b52649a7b1054741338997d2369197d91acb2eab7f6b11d3855ed1"
    ),
    "rasa.shared.core.trackers:DialogueStateTracker.past_states": (
        "5463eefb5c69d27f82cdc7eca84e23b4b82851e9a5ff575bd02447d4d987103b"
    ),
    "rasa.shared.core.trackers:DialogueStateTracker.applied_events": (
        "764d5065ea9997d613c1984d9357370f9ae32d31ca21346086f16c54f0487aae"
    ),
    "rasa.core.policies.rule_policy:RulePolicy._find_action_from_rules": (
        "be6da6ee0f5429bd9bbded9f22186f3729469e5b392949493fd34a00ef9531d9"
    ),
    "rasa.core.policies.policy:Policy.format_tracker_states": (
        "32b101cb34fd1c32fd17557044632ecbe9cb5638e605ca81864ddcb6b469a22a"
    ),
    "rasa.core.tracker_store:TrackerStore.init_tracker": (
        "2089b91e90d881a19791b340d58261835fb2fb8ed96cda89cd471f8571221a63"
    ),
    # ConversationTracker.copy takes over the state these set and replay would rebuild
    "rasa.shared.core.trackers:DialogueStateTracker.copy": (
        "dfa48dca9f355ad1b42c625bc6f6370bafe83514ed17a77904ed64c67bf07285"
    ),
    "rasa.shared.core.trackers:DialogueStateTracker.travel_back_in_time": (
        "09d16f28f007492f653b504cf2b6064dc453444c524799378609a85b04efd632"
    ),
    "rasa.shared.core.trackers:DialogueStateTracker.__init__": (
        "8f39eb22462aa62b140d9da1f6db986cbc76383d8f7cc4e3dc7664fa7d84cb2d"
    ),
    "rasa.shared.core.trackers:DialogueStateTracker._reset": (
        "190858eaf560a0c0a86f45dca86498f8a9fada57ddb6c7dd1e68648c9779e103"
    ),
    # the policies' last states: what reads the states after the tracker hands them out
    "rasa.core.policies.policy:Policy._prediction_states": (
        "ed9b82bed2f26ad7a0de61709e02339983912bece614191089c3adba60cf1452"
    ),
    "rasa.core.featurizers.tracker_featurizers:MaxHistoryTrackerFeaturizer.prediction_states": (
        "451caf09a389e8719ad4ee38eb97dfd10b4743cd3928f1f9569779394fd3462e"
    ),
    "rasa.core.featurizers.tracker_featurizers:MaxHistoryTrackerFeaturizer.slice_state_history": (
        "f90eb9f4789d2c104d5c471557bdefdb7746cc483b43e92c5d270a50f4e4f443"
    ),
    "rasa.core.policies.rule_policy:RulePolicy._is_rule_applicable": (
        "64a108b016b46e573d6020b755a6036439dc207a364b45c9ea5dcb0f18dc7068"
    ),
    "rasa.core.policies.rule_policy:RulePolicy._create_feature_key": (
        "641eda8d019918ce3001989a2b64c1d32281ede2fd2f68a4e17693a3c47c4e71"
    ),
    "rasa.core.policies.rule_policy:RulePolicy._rule_prediction": (
        "90316ddf7eb4b3140d45f21e51ca072c212ba28329077d99cb618191456f273f"
    ),
    "rasa.core.policies.memoization:MemoizationPolicy.predict_action_probabilities": (
        "19903a81bee56ca9bc2aad8b9116d8b08c365f8761de8de1fe968bb6dcd419d3"
    ),
}

# What spine_rasa/components.py, spine_rasa/policies.py, spine_rasa/trackers.py and
# spine_rasa/tracker_store.py override or rely on.
OVERRIDDEN = [
    "rasa.utils.tensorflow.models:RasaModel.load",
    "rasa.utils.tensorflow.models:RasaModel._rasa_predict",
    "rasa.utils.tensorflow.models:RasaModel.run_inference",
    "rasa.nlu.classifiers.diet_classifier:DIETClassifier._predict",
    "rasa.nlu.classifiers.diet_classifier:DIETClassifier._load_model_class",
    "rasa.nlu.selectors.response_selector:ResponseSelector._load_model_class",
    "rasa.utils.tensorflow.data_generator:RasaBatchDataGenerator.prepare_batch",
    "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys",
    "rasa.shared.core.domain:Domain.states_for_tracker_history",
    "rasa.shared.core.trackers:DialogueStateTracker.generate_all_prior_trackers",
    "rasa.shared.core.trackers:DialogueStateTracker.past_states",
    "rasa.core.tracker_store:TrackerStore.init_tracker",
    "rasa.shared.core.trackers:DialogueStateTracker.applied_events",
    "rasa.core.policies.rule_policy:RulePolicy._find_action_from_rules",
    "rasa.core.policies.policy:Policy.format_tracker_states",
    "rasa.shared.core.trackers:DialogueStateTracker.copy",
    "rasa.shared.core.trackers:DialogueStateTracker.travel_back_in_time",
    "rasa.shared.core.trackers:DialogueStateTracker.__init__",
    "rasa.shared.core.trackers:DialogueStateTracker._reset",
    "rasa.core.policies.policy:Policy._prediction_states",
    "rasa.core.featurizers.tracker_featurizers:MaxHistoryTrackerFeaturizer.prediction_states",
    "rasa.core.featurizers.tracker_featurizers:MaxHistoryTrackerFeaturizer.slice_state_history",
    "rasa.core.policies.rule_policy:RulePolicy._is_rule_applicable",
    "rasa.core.policies.rule_policy:RulePolicy._create_feature_key",
    "rasa.core.policies.rule_policy:RulePolicy._rule_prediction",
    "rasa.core.policies.memoization:MemoizationPolicy.predict_action_probabilities",
]


def resolve(target: str, shipped: bool = True) -> Any:
    """The function (or class) ``target`` names; with ``shipped``, Rasa's own even where a fix
    has replaced it (spine_rasa/fixes.py keeps it on the replacement)."""
    module_name, _, qualified = target.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualified.split("."):
        found = (
            inspect.getattr_static(found, part) if inspect.isclass(found) else getattr(found, part)
        )
    found = getattr(found, "__func__", found)  # classmethod / staticmethod: the function
    if shipped:
        found = getattr(found, "_spine_original", found)
        found = getattr(found, "__func__", found)
    return found


def fingerprint(target: str) -> str:
    return hashlib.sha256(inspect.getsource(resolve(target)).encode()).hexdigest()


def changed(targets: Iterable[str], expected: Dict[str, str] | None = None) -> List[str]:
    """The targets whose source is not the one recorded (or cannot be read any more)."""
    expected = SHIPPED if expected is None else expected
    different = []
    for target in targets:
        try:
            if fingerprint(target) != expected.get(target):
                different.append(target)
        except (ImportError, AttributeError, OSError, TypeError):
            different.append(target)
    return different
