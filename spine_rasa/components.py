"""DIET and the ResponseSelector with a lean load and prediction, named in ``config.yml``.

They train exactly as Rasa's own classes do (same code, same seeds); only serving differs:

- **Loaded for inference only.** Rasa's ``RasaModel.load`` builds the weights by compiling the
  model with an optimizer and *training one step* on an example, then overwrites them from the
  checkpoint. Building the prediction graph on the example does the same for serving (the
  checkpoint restores every variable the prediction creates: checked, else Rasa's own load runs):
  ~400 MB less per process and about half the load time. Fine-tuning keeps Rasa's way.
- **The traced graph called directly.** Rasa calls its ``tf.function`` (traced once, with a
  shape-free signature) for every prediction; TensorFlow then re-derives per call which traced
  graph the arguments select and re-checks them against the signature, which costs more CPU than
  running the graph. After Rasa's own first call has traced it, the arrays are converted to
  tensors of the signature's types and that one graph is called (TensorFlow still checks each
  input's shape against it). Same graph, same inputs.
- **One prediction batch per message.** Both components turn the message into model data
  (features per featurizer, padded, sorted), then into a batch through a Keras data generator
  built for one message, then into tensors. For a prediction the batch depends only on the
  message's text features and the featurizers a component reads, so when both read the same
  featurizers the second gets the first's batch and tensors, remembered on the message itself.

``SPINE_RASA_FIXES=0`` makes them behave exactly as Rasa's classes;
``tests/quality/test_spine_rasa.py`` checks that every held-out parse and conversation is the
same either way.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Dict, List, Tuple, Type

import tensorflow as tf
from keras.utils import tf_utils
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIET, DIETClassifier
from rasa.nlu.selectors.response_selector import DIET2BOW, DIET2DIET, ResponseSelector
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.tensorflow.constants import FEATURIZERS
from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator
from rasa.utils.tensorflow.models import RasaModel

from spine_rasa.fixes import enabled

logger = logging.getLogger(__name__)

# Rasa's recipe validator looks for the ResponseSelector class by exact type, so with the
# subclass below it warns that the retrieval intents have no selector; they do.
warnings.filterwarnings(
    "ignore",
    message="You have defined training data with examples for training a response selector",
)

# SPINE_RASA_FIXES=0: the classes behave exactly as their parents (to compare with, and to measure).
LEAN = enabled()
# Where a message keeps its prediction batches: both components read it (see _predict).
_BATCHES = "_spine_batches"


class LeanModel(RasaModel):
    """A Rasa TensorFlow model that loads for inference and calls its traced graph directly."""

    _spine_graph: Tuple[Any, List[tf.DType]] | None = None

    @classmethod
    def load(  # type: ignore[override]
        cls,
        model_file_name: str,
        model_data_example: Any,
        predict_data_example: Any = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> RasaModel:
        def as_shipped() -> RasaModel:
            return super(LeanModel, cls).load(
                model_file_name,
                model_data_example,
                predict_data_example,
                finetune_mode,
                *args,
                **kwargs,
            )

        if not LEAN or finetune_mode or predict_data_example is None:
            return as_shipped()
        try:
            model = cls(*args, **kwargs)
            status = model.load_weights(model_file_name)  # restored as variables get created
            model.run_inference(predict_data_example)  # creates the prediction variables
            status.assert_existing_objects_matched()  # each of them came from the checkpoint
            status.expect_partial()  # the optimizer's state stays unread: nothing trains here
            return model
        except Exception as error:  # noqa: BLE001 - any surprise: Rasa's own way
            logger.warning("inference-only load failed (%s); using Rasa's load", error)
            return as_shipped()

    def input_types(self) -> List[tf.DType] | None:
        """The traced prediction graph's input types, once Rasa's first call has traced it."""
        return self._spine_graph[1] if self._spine_graph else None

    def _rasa_predict(self, batch_in: Tuple[Any, ...]) -> Dict[str, Any]:
        if not LEAN:
            return super()._rasa_predict(batch_in)
        if self._spine_graph is None:
            outputs = super()._rasa_predict(batch_in)  # traces on first use
            if self._tf_predict_step is not None and not self._run_eagerly:
                graph = self._tf_predict_step.get_concrete_function()
                types = [spec.dtype for spec in graph.structured_input_signature[0][0]]
                self._spine_graph = (graph, types)
            return outputs
        return self.predict_tensors(self.as_tensors(batch_in))

    def as_tensors(self, batch_in: Tuple[Any, ...]) -> List[tf.Tensor]:
        assert self._spine_graph is not None
        return [
            tf.convert_to_tensor(array, dtype)
            for array, dtype in zip(batch_in, self._spine_graph[1], strict=True)
        ]

    def predict_tensors(self, tensors: List[tf.Tensor]) -> Dict[str, Any]:
        assert self._spine_graph is not None
        graph = self._spine_graph[0]
        self._training = False
        outputs = tf_utils.sync_to_numpy_or_python_type(
            graph._call_flat(tensors, graph.captured_inputs)
        )
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return outputs


class LeanDIET(LeanModel, DIET):
    """DIET (the intent classifier's model)."""


class LeanDIET2BOW(LeanModel, DIET2BOW):
    """DIET2BOW (the ResponseSelector's model)."""


class LeanDIET2DIET(LeanModel, DIET2DIET):
    """DIET2DIET (the ResponseSelector's model with ``use_text_as_label``)."""


class _SharedBatch(DIETClassifier):
    """``_predict`` through one batch (and its tensors) per message and set of featurizers."""

    def _predict(self, message: Message) -> Dict[str, Any] | None:
        model = self.model
        if not LEAN or not isinstance(model, LeanModel):
            return super()._predict(message)
        # The features' identities, not only their number: a featurizer that ran in between
        # makes a new batch.
        key = (
            tuple(self.component_config.get(FEATURIZERS) or ()),
            tuple(id(features) for features in message.features),
            self.label_key,
            self.label_sub_key,
        )
        known: Dict[Any, Any] = message.__dict__.setdefault(_BATCHES, {})
        if key not in known:
            model_data = self._create_model_data([message], training=False)
            batch = (
                None
                if model_data.is_empty()
                else RasaBatchDataGenerator.prepare_batch(model_data.data, 0, 1)
            )
            known[key] = [batch, {}]  # the batch and its tensors by input types
        batch, tensors_by_types = known[key]
        if batch is None:
            return None
        types = model.input_types()
        if types is None:  # not traced yet: Rasa's call traces it
            outputs = model._rasa_predict(batch)
        else:
            tensors = tensors_by_types.get(tuple(types))
            if tensors is None:
                tensors = tensors_by_types[tuple(types)] = model.as_tensors(batch)
            outputs = model.predict_tensors(tensors)
        return model._merge_batch_outputs({}, outputs)


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class LeanDIETClassifier(_SharedBatch, DIETClassifier):
    """Rasa's DIETClassifier, served with a lean load and prediction (module docstring)."""

    @staticmethod
    def model_class() -> Type[RasaModel]:
        return LeanDIET


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LeanResponseSelector(_SharedBatch, ResponseSelector):
    """Rasa's ResponseSelector, served with a lean load and prediction (module docstring)."""

    @staticmethod
    def model_class(use_text_as_label: bool) -> Type[RasaModel]:  # type: ignore[override]
        return LeanDIET2DIET if use_text_as_label else LeanDIET2BOW
