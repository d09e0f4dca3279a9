"""The compatibility rules of `trainkit migrate` (trainkit.migrate.compat), one row per rule.

A row's `target` is what it matches, by `on`:
- "name": a fully qualified name, after import aliases are resolved, and every name under it
  (`numpy.float`; `tensorflow.contrib` also matches `tf.contrib.layers.flatten`) unless `exact`; the
  longest matching target wins. `{a,b}` expands to
  one target per alternative, which `<name>` stands for in `what`, `fix` and `to`. A target under
  `keras.` also matches under `tensorflow.keras.` unless `tf_keras=False` (Keras 3.15's tf.keras keeps
  a few Keras 2 names that bare `keras` lost).
- "call": a call of that qualified name; `check` names the test on its arguments (compat.CHECKS).
- "method": a method call `x.NAME(...)` on anything that is not an imported module; `check` as above.
- "kwarg": `CALLEE(KEYWORD=...)`, CALLEE a qualified-name pattern where `*` is any dotted run.
`to` is the rewrite --fix makes (a qualified name, a method name or a keyword) when `mechanical`;
`by="tf_upgrade_v2"` marks the rows that TensorFlow's upgrade script rewrites (fix.upgrade_tf1).
`keras` lists the target environments (environment.keras) where the row breaks."""
from __future__ import annotations

from dataclasses import dataclass

BOTH = ("2", "3")
K3 = ("3",)


@dataclass(frozen=True)
class Rule:
    kind: str                      # numpy2 | keras3 | tf1 | download | azureml
    target: str                    # what it matches (see the module docstring)
    what: str                      # what breaks, in the words of the error a user would see
    fix: str                       # what to do instead
    mechanical: bool = False       # --fix rewrites it
    to: str | None = None          # the rewrite (name, method or keyword)
    keras: tuple[str, ...] = BOTH  # the target Keras versions where it breaks
    on: str = "name"               # name | call | method | kwarg
    check: str | None = None       # call/method rows: the test on the arguments
    tf_keras: bool = True          # a keras.* name also matches under tensorflow.keras.*
    by: str = ""                   # "tf_upgrade_v2": rewritten by TensorFlow's upgrade script, not by LibCST
    exact: bool = False            # name rows: only the name itself, not the names under it


# The keyword arguments Keras 3.15's Model methods take (keras/src/trainers/trainer.py): any other is refused.
KERAS3_KWARGS = {
    "compile": {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                "steps_per_execution", "jit_compile", "auto_scale_loss"},
    "fit": {"x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data", "shuffle",
            "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch", "validation_steps",
            "validation_batch_size", "validation_freq"},
    "evaluate": {"x", "y", "batch_size", "verbose", "sample_weight", "steps", "callbacks", "return_dict"},
    "predict": {"x", "batch_size", "verbose", "steps", "callbacks"},
}
NP = "removed in numpy"
TF1_COMPAT = ("its TF 2 name, else tf.compat.v1.<name> (tf_upgrade_v2 renames it); TF 1 graph code also needs "
              "tf.compat.v1.disable_eager_execution(), or rewrite it eagerly (keras, tf.function)")
KERAS3_BACKEND = ("keras.ops.<name> (or keras.random / the tensor's own method); Keras 3.15 keeps "
                  "tf.keras.backend.<name> for old code")
DOWNLOAD = ("offline this fails: give the file a trainkit dataset config (conf/dataset/NAME.yaml with local "
            "`sources`) and read `${dataset.path}`, or `trainkit migrate --mirror URL_PREFIX=MIRROR`")

RULES: tuple[Rule, ...] = (
    # ---------------------------------------------------------------- numpy 2.4 (installed) lost these
    Rule("numpy2", "numpy.{float,int,object,str,complex}", f"`np.<name>` was {NP} 1.24 (it was the builtin `<name>`)",
         "the builtin `<name>`", True, "<name>"),
    Rule("numpy2", "numpy.unicode", f"`np.unicode` was {NP} 1.24 (it was the builtin `str`)", "the builtin `str`", True, "str"),
    Rule("numpy2", "numpy.float_", f"`np.float_` was {NP} 2.0", "`np.float64`", True, "numpy.float64"),
    Rule("numpy2", "numpy.{complex_,cfloat}", f"`np.<name>` was {NP} 2.0", "`np.complex128`", True, "numpy.complex128"),
    Rule("numpy2", "numpy.singlecomplex", f"`np.singlecomplex` was {NP} 2.0", "`np.complex64`", True, "numpy.complex64"),
    Rule("numpy2", "numpy.longfloat", f"`np.longfloat` was {NP} 2.0", "`np.longdouble`", True, "numpy.longdouble"),
    Rule("numpy2", "numpy.{clongfloat,longcomplex}", f"`np.<name>` was {NP} 2.0", "`np.clongdouble`", True,
         "numpy.clongdouble"),
    Rule("numpy2", "numpy.string_", f"`np.string_` was {NP} 2.0", "`np.bytes_`", True, "numpy.bytes_"),
    Rule("numpy2", "numpy.unicode_", f"`np.unicode_` was {NP} 2.0", "`np.str_`", True, "numpy.str_"),
    Rule("numpy2", "numpy.int0", f"`np.int0` was {NP} 2.0", "`np.intp`", True, "numpy.intp"),
    Rule("numpy2", "numpy.uint0", f"`np.uint0` was {NP} 2.0", "`np.uintp`", True, "numpy.uintp"),
    Rule("numpy2", "numpy.bool8", f"`np.bool8` was {NP} 2.0", "`np.bool_`", True, "numpy.bool_"),
    Rule("numpy2", "numpy.{NaN,NAN}", f"`np.<name>` was {NP} 2.0", "`np.nan`", True, "numpy.nan"),
    Rule("numpy2", "numpy.{Inf,Infinity,infty,PINF}", f"`np.<name>` was {NP} 2.0", "`np.inf`", True, "numpy.inf"),
    Rule("numpy2", "numpy.NINF", f"`np.NINF` was {NP} 2.0", "`-np.inf`", True, "-numpy.inf"),
    Rule("numpy2", "numpy.PZERO", f"`np.PZERO` was {NP} 2.0", "`0.0`", True, "0.0"),
    Rule("numpy2", "numpy.NZERO", f"`np.NZERO` was {NP} 2.0", "`-0.0`", True, "-0.0"),
    Rule("numpy2", "numpy.product", f"`np.product` was {NP} 2.0", "`np.prod`", True, "numpy.prod"),
    Rule("numpy2", "numpy.cumproduct", f"`np.cumproduct` was {NP} 2.0", "`np.cumprod`", True, "numpy.cumprod"),
    Rule("numpy2", "numpy.alltrue", f"`np.alltrue` was {NP} 2.0", "`np.all`", True, "numpy.all"),
    Rule("numpy2", "numpy.sometrue", f"`np.sometrue` was {NP} 2.0", "`np.any`", True, "numpy.any"),
    Rule("numpy2", "numpy.round_", f"`np.round_` was {NP} 2.0", "`np.round`", True, "numpy.round"),
    Rule("numpy2", "numpy.trapz", f"`np.trapz` was {NP} 2.4", "`np.trapezoid` (same arguments)", True, "numpy.trapezoid"),
    Rule("numpy2", "numpy.mat", f"`np.mat` was {NP} 2.0", "`np.asmatrix`", True, "numpy.asmatrix"),
    Rule("numpy2", "numpy.issubclass_", f"`np.issubclass_` was {NP} 2.0", "the builtin `issubclass`", True, "issubclass"),
    Rule("numpy2", "numpy.issubsctype", f"`np.issubsctype` was {NP} 2.0", "`np.issubdtype`", True, "numpy.issubdtype"),
    Rule("numpy2", "numpy.in1d", f"`np.in1d` was {NP} 2.4",
         "`np.isin(a, b)`; it keeps the shape of `a` (np.in1d flattened it: add `.ravel()` where that matters)"),
    Rule("numpy2", "numpy.cast", f"`np.cast` was {NP} 2.0", "`np.asarray(x, dtype=DTYPE)` for `np.cast[DTYPE](x)`"),
    Rule("numpy2", "numpy.asfarray", f"`np.asfarray` was {NP} 2.0",
         "`np.asarray(x, dtype=float)` (np.asfarray kept float32 input as float32: `np.asarray(x, dtype=x.dtype)` "
         "for floating input)"),
    Rule("numpy2", "numpy.msort", f"`np.msort` was {NP} 2.0", "`np.sort(a, axis=0)`"),
    Rule("numpy2", "numpy.find_common_type", f"`np.find_common_type` was {NP} 2.0", "`np.result_type` or `np.promote_types`"),
    Rule("numpy2", "numpy.safe_eval", f"`np.safe_eval` was {NP} 2.0", "`ast.literal_eval`"),
    Rule("numpy2", "numpy.asscalar", f"`np.asscalar` was {NP} 1.23", "`a.item()`"),
    Rule("numpy2", "numpy.{fv,ipmt,irr,mirr,nper,npv,pmt,ppmt,pv,rate}", f"`np.<name>` was {NP} 1.20",
         "`numpy_financial.<name>` (pip package numpy-financial)"),
    Rule("numpy2", "numpy.{deprecate,deprecate_with_doc,disp,who,lookfor,source,set_string_function,add_newdoc_ufunc,"
         "fastCopyAndTranspose,recfromcsv,recfromtxt,byte_bounds,compat,sctype2char,sctypes,obj2sctype,maximum_sctype,"
         "issctype,geterrobj,seterrobj,nbytes,DataSource,tracemalloc_domain,format_parser,compare_chararrays,"
         "set_numeric_ops}", f"`np.<name>` was {NP} 2.0", "see the replacement in numpy's 2.0 migration guide"),
    # ---------------------------------------------------------------- Keras 3 (and what neither Keras has any more)
    Rule("keras3", "*keras.optimizers.*(lr)", "Keras 3 optimizers refuse `lr=` (\"Argument(s) not recognized\")",
         "`learning_rate=`", True, "learning_rate", K3, on="kwarg"),
    Rule("keras3", "*keras.optimizers.*(decay)", "Keras 3 optimizers ignore `decay=` (only a warning): the rate no "
         "longer decays", "`learning_rate=keras.optimizers.schedules.InverseTimeDecay(LR, decay_steps=1, "
         "decay_rate=DECAY)` (the Keras 2 formula, lr / (1 + decay * step))", keras=K3, on="kwarg"),
    Rule("keras3", "keras.optimizers.legacy", "`keras.optimizers.legacy` optimizers raise ImportError in Keras 3",
         "`keras.optimizers` (same class names)", True, "keras.optimizers", K3),
    Rule("keras3", "keras.layers.experimental.preprocessing", "`keras.layers.experimental.preprocessing` is gone in "
         "Keras 3", "`keras.layers` (the same layers: Rescaling, Normalization, RandomFlip, ...)", True, "keras.layers", K3),
    Rule("keras3", "keras.layers.experimental", "`keras.layers.experimental` is gone in Keras 3",
         "the layer under `keras.layers` (EinsumDense, RandomFourierFeatures; SyncBatchNormalization -> "
         "BatchNormalization(synchronized=True))", keras=K3),
    Rule("keras3", "keras.experimental.{CosineDecay,CosineDecayRestarts}", "`keras.experimental` is gone in Keras 3",
         "`keras.optimizers.schedules.<name>`", True, "keras.optimizers.schedules.<name>", K3),
    Rule("keras3", "keras.experimental", "`keras.experimental` is gone in Keras 3",
         "`keras.optimizers.schedules` for the schedules; no Keras 3 LinearModel/WideDeepModel/SequenceFeatures", keras=K3),
    Rule("keras3", "keras.utils.np_utils", "`keras.utils.np_utils` is gone in Keras 3", "`keras.utils` "
         "(to_categorical, normalize)", True, "keras.utils", K3),
    Rule("keras3", "keras.layers.{core,convolutional,recurrent,normalization,advanced_activations,merge,pooling,"
         "embeddings,wrappers,noise,local,cudnn_recurrent,convolutional_recurrent}",
         "`keras.layers.<name>` is a private module path (neither Keras 3 nor tf_keras has it)",
         "`keras.layers`", True, "keras.layers"),
    Rule("keras3", "keras.layers.CuDNNLSTM", "`CuDNNLSTM` is gone (TF 2 and Keras 3)",
         "`keras.layers.LSTM` (uses cuDNN itself with its default arguments)", True, "keras.layers.LSTM"),
    Rule("keras3", "keras.layers.CuDNNGRU", "`CuDNNGRU` is gone (TF 2 and Keras 3)",
         "`keras.layers.GRU` (uses cuDNN itself with its default arguments)", True, "keras.layers.GRU"),
    Rule("keras3", "keras.layers.Merge", "`keras.layers.Merge` (Keras 1) is gone", "`keras.layers.Concatenate`, "
         "`Add`, `Multiply`, ... (one layer per merge mode)"),
    Rule("keras3", "keras.initializers.normal", "`keras.initializers.normal` is gone", "`keras.initializers.RandomNormal`",
         True, "keras.initializers.RandomNormal"),
    Rule("keras3", "keras.initializers.uniform", "`keras.initializers.uniform` is gone",
         "`keras.initializers.RandomUniform`", True, "keras.initializers.RandomUniform"),
    Rule("keras3", "keras.initializers.zero", "`keras.initializers.zero` is gone", "`keras.initializers.Zeros`", True,
         "keras.initializers.Zeros"),
    Rule("keras3", "keras.initializers.one", "`keras.initializers.one` is gone", "`keras.initializers.Ones`", True,
         "keras.initializers.Ones"),
    Rule("keras3", "keras.{losses,metrics}.{mse,MSE}", "`keras.<name>.mse` is gone in Keras 3",
         "`keras.<name>.mean_squared_error` (or the string 'mse')", True, "keras.<name>.mean_squared_error", K3,
         tf_keras=False),
    Rule("keras3", "keras.{losses,metrics}.{mae,MAE}", "`keras.<name>.mae` is gone in Keras 3",
         "`keras.<name>.mean_absolute_error` (or the string 'mae')", True, "keras.<name>.mean_absolute_error", K3,
         tf_keras=False),
    Rule("keras3", "keras.{losses,metrics}.mape", "`keras.<name>.mape` is gone in Keras 3",
         "`keras.<name>.mean_absolute_percentage_error`", True, "keras.<name>.mean_absolute_percentage_error", K3,
         tf_keras=False),
    Rule("keras3", "keras.{losses,metrics}.msle", "`keras.<name>.msle` is gone in Keras 3",
         "`keras.<name>.mean_squared_logarithmic_error`", True, "keras.<name>.mean_squared_logarithmic_error", K3,
         tf_keras=False),
    Rule("keras3", "keras.losses.Reduction", "`keras.losses.Reduction` is gone in Keras 3",
         "the strings: reduction='sum_over_batch_size', 'sum' or None", keras=K3, tf_keras=False),
    Rule("keras3", "keras.layers.ThresholdedReLU", "`ThresholdedReLU` is gone in Keras 3",
         "`keras.layers.ReLU(threshold=THETA)`", keras=K3, tf_keras=False),
    Rule("keras3", "keras.layers.DenseFeatures", "`DenseFeatures` (feature columns) is gone in Keras 3",
         "preprocessing layers (`keras.utils.FeatureSpace`, Normalization, StringLookup)", keras=K3),
    Rule("keras3", "keras.preprocessing.image.ImageDataGenerator", "`keras.preprocessing.image.ImageDataGenerator` "
         "is gone in Keras 3", "`keras.utils.image_dataset_from_directory` with augmentation layers (RandomFlip, ...); "
         "Keras 3.15 keeps `tf.keras.preprocessing.image.ImageDataGenerator` for old code", keras=K3, tf_keras=False),
    Rule("keras3", "keras.preprocessing.text", "`keras.preprocessing.text` is gone in Keras 3",
         "`keras.layers.TextVectorization`; Keras 3.15 keeps `tf.keras.preprocessing.text` for old code",
         keras=K3, tf_keras=False),
    Rule("keras3", "keras.preprocessing.sequence.TimeseriesGenerator", "`TimeseriesGenerator` is gone in Keras 3",
         "`keras.utils.timeseries_dataset_from_array`", keras=K3, tf_keras=False),
    Rule("keras3", "keras.utils.multi_gpu_model", "`multi_gpu_model` is gone (TF 2.4 and later)",
         "a distribution strategy: trainkit's `distribution=mirrored`"),
    Rule("keras3", "keras.wrappers.scikit_learn", "`keras.wrappers.scikit_learn` is gone",
         "the scikeras package (`scikeras.wrappers.KerasClassifier`)"),
    Rule("keras3", "keras.engine", "`keras.engine` is a private module (neither Keras 3 nor tf_keras has it)",
         "`keras.layers.Layer`, `keras.Model`, `keras.Input`"),
    Rule("keras3", "keras.models.model_from_yaml", "`model_from_yaml` was removed (a security risk)",
         "`keras.models.model_from_json` or a .keras file"),
    Rule("keras3", "keras.mixed_precision.experimental.set_policy", "`keras.mixed_precision.experimental` is gone",
         "`keras.mixed_precision.set_global_policy`", True, "keras.mixed_precision.set_global_policy"),
    Rule("keras3", "keras.mixed_precision.experimental.Policy", "`keras.mixed_precision.experimental` is gone",
         "`keras.mixed_precision.Policy`", True, "keras.mixed_precision.Policy"),
    Rule("keras3", "keras.mixed_precision.experimental", "`keras.mixed_precision.experimental` is gone",
         "`keras.mixed_precision` (set_global_policy, Policy)"),
    Rule("keras3", "keras.estimator", "`keras.estimator.model_to_estimator` is gone (tf.estimator was removed in "
         "TF 2.16)", "train the Keras model itself (`model.fit`, or trainkit's trainer)"),
    Rule("keras3", "keras.backend.{get_session,set_session}", "`K.<name>` is gone (TF 2 has no session to manage)",
         "drop it (GPU memory: `tf.config.experimental.set_memory_growth`); on Keras 2 "
         "`tf.compat.v1.keras.backend.<name>`"),
    Rule("keras3", "keras.backend.{set_learning_phase,learning_phase,function,placeholder,in_train_phase,print_tensor,"
         "reset_uids,manual_variable_initialization,tensorflow_backend,logsumexp}", "`K.<name>` is gone in Keras 3",
         "`training=` arguments for the learning phase; a plain function or `keras.Model(inputs, outputs)` for "
         "K.function; `keras.ops.logsumexp`", keras=K3),
    Rule("keras3", "keras.backend.{get_value,set_value,eval,variable,int_shape,mean,sum,square,sqrt,abs,exp,log,max,min,"
         "argmax,cast,concatenate,reshape,flatten,equal,clip,dot,batch_dot,categorical_crossentropy,binary_crossentropy,"
         "sparse_categorical_crossentropy,softmax,relu,sigmoid,tanh,shape,ndim,stack,expand_dims,squeeze,zeros,ones,"
         "gradients,stop_gradient,switch,pow,round,std,var,any,all,count_params,batch_get_value,batch_set_value,one_hot,"
         "random_normal,random_uniform,l2_normalize,sign,maximum,minimum,not_equal,greater,less,zeros_like,ones_like,"
         "transpose,tile,repeat,gather,conv2d,pool2d,bias_add,dropout,rnn,resize_images,spatial_2d_padding,cumsum,cumprod,"
         "prod,elu,softplus,softsign,hard_sigmoid,update,update_add,moving_average_update,name_scope,arange,constant,"
         "permute_dimensions}", "`keras.backend.<name>` is gone in Keras 3", KERAS3_BACKEND, keras=K3, tf_keras=False),
    Rule("keras3", "tensorflow.python.keras", "`tensorflow.python.keras` is TensorFlow's private, frozen copy of old "
         "Keras: its objects do not mix with Keras 3's (or tf_keras's)", "`tensorflow.keras`", True, "tensorflow.keras"),
    Rule("keras3", "tf_keras", "`tf_keras` (Keras 2) is not installed in a Keras 3 environment",
         "run it in the Keras 2 environment (environment.keras=2), or use `keras`", keras=K3),
    Rule("keras3", "horovod.{keras,tensorflow.keras}", "Horovod's Keras integration is written for Keras 2 (Horovod "
         "0.28.1, 2023): its DistributedOptimizer averages gradients in Keras 2 optimizer hooks (_aggregate_gradients, "
         "get_gradients) that Keras 3 never calls", "the Keras 2 environment (environment.keras=2), "
         "or a custom step with `hvd.grouped_allreduce(grads, op=hvd.Average)`", keras=K3),
    Rule("keras3", "horovod.tensorflow.DistributedGradientTape", "`hvd.DistributedGradientTape` fails with Keras 3 "
         "variables (\"'Variable' object has no attribute 'ref'\")",
         "`grads = hvd.grouped_allreduce(tape.gradient(loss, vars), op=hvd.Average)`", keras=K3),
    Rule("keras3", "fit_generator", "`Model.fit_generator` is gone in Keras 3", "`model.fit` (takes the generator)",
         True, "fit", K3, on="method", check="generator_args"),
    Rule("keras3", "evaluate_generator", "`Model.evaluate_generator` is gone in Keras 3", "`model.evaluate`",
         True, "evaluate", K3, on="method", check="generator_args"),
    Rule("keras3", "predict_generator", "`Model.predict_generator` is gone in Keras 3", "`model.predict`",
         True, "predict", K3, on="method", check="generator_args"),
    Rule("keras3", "{compile,fit,evaluate,predict}", "Keras 3 `Model.<name>` refuses arguments it no longer has",
         "drop them: workers=, use_multiprocessing=, max_queue_size= moved to keras.utils.PyDataset; "
         "experimental_run_tf_function= and sample_weight_mode= did nothing in TF 2; nb_epoch= is epochs=",
         keras=K3, on="method", check="keras3_kwargs"),
    Rule("keras3", "predict_classes", "`Model.predict_classes` is gone (TF 2.6 and later)",
         "`np.argmax(model.predict(x), axis=-1)` (a sigmoid output: `(model.predict(x) > 0.5).astype('int32')`)",
         on="method", check="model_receiver"),
    Rule("keras3", "predict_proba", "`Model.predict_proba` is gone (TF 2.6 and later)", "`model.predict(x)`",
         on="method", check="model_receiver"),
    Rule("keras3", "_set_inputs", "`Model._set_inputs` is gone in Keras 3",
         "build the model with `keras.Input` or by calling it on a batch; `model.export(DIR)` for a SavedModel",
         keras=K3, on="method"),
    Rule("keras3", "save", "Keras 3 `model.save(PATH)` refuses a path without `.keras` or `.h5` (it wrote a "
         "SavedModel directory in Keras 2)", "`model.export(PATH)` for the SavedModel (what serving loads), or "
         "`model.save('NAME.keras')`", True, "export", K3, on="method", check="savedmodel_save"),
    Rule("keras3", "keras.{models,saving}.save_model", "Keras 3 `save_model(model, PATH)` refuses a path without "
         "`.keras` or `.h5`", "`model.export(PATH)` for a SavedModel, or a NAME.keras path", keras=K3, on="call",
         check="save_model_path"),
    Rule("keras3", "save_weights", "Keras 3 `save_weights` needs a path ending in `.weights.h5`",
         "`model.save_weights('NAME.weights.h5')` (and load_weights the same file)", keras=K3, on="method",
         check="weights_save"),
    Rule("keras3", "load_weights", "Keras 3 `load_weights` reads only `.weights.h5`, `.h5` or `.keras` files "
         "(not TF checkpoints)", "save and load `NAME.weights.h5`", keras=K3, on="method", check="weights_load"),
    Rule("keras3", "keras.{models,saving}.load_model", "Keras 3 `load_model` reads only `.keras` and `.h5` files, "
         "not a SavedModel directory", "`keras.layers.TFSMLayer(DIR, call_endpoint='serving_default')` for "
         "inference, or save the model as NAME.keras", keras=K3, on="call", check="keras_file"),
    Rule("keras3", "keras.callbacks.ModelCheckpoint", "Keras 3 `ModelCheckpoint` needs a path ending in `.keras` "
         "(`.weights.h5` with save_weights_only=True)", "e.g. 'outputs/ckpt-{epoch:02d}.keras'", keras=K3,
         on="call", check="checkpoint_path"),
    Rule("keras3", "*keras.callbacks.ModelCheckpoint(period)", "Keras 3 `ModelCheckpoint` refuses `period=`",
         "`save_freq='epoch'` (every epoch) or save_freq=N*STEPS_PER_EPOCH (in batches)", keras=K3, on="kwarg"),
    # ---------------------------------------------------------------- TensorFlow 1 APIs TensorFlow 2.21 does not have
    Rule("tf1", "tensorflow.{Session,InteractiveSession,placeholder,placeholder_with_default,get_variable,variable_scope,"
         "global_variables_initializer,local_variables_initializer,initialize_all_variables,variables_initializer,"
         "trainable_variables,global_variables,get_collection,add_to_collection,GraphKeys,reset_default_graph,"
         "get_default_graph,ConfigProto,GPUOptions,RunOptions,assign,assign_add,Print,enable_eager_execution,"
         "disable_eager_execution,disable_v2_behavior,sparse_tensor_to_dense,div,arg_max,arg_min,to_float,to_int32,"
         "to_int64,to_double,count_nonzero,squared_difference,matrix_band_part,decode_raw,parse_single_example,"
         "FixedLenFeature,VERSION,logging,app,flags,gfile,python_io}",
         "`tf.<name>` is TensorFlow 1 (gone in TensorFlow 2)", TF1_COMPAT, True, by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.{random_normal,truncated_normal,random_uniform,set_random_seed,log}",
         "`tf.<name>` is TensorFlow 1 (gone in TensorFlow 2)", "its TensorFlow 2 name (tf.random.normal, "
         "tf.random.truncated_normal, tf.random.uniform, tf.random.set_seed, tf.math.log); tf_upgrade_v2 renames it",
         True, by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.train.{AdamOptimizer,GradientDescentOptimizer,MomentumOptimizer,RMSPropOptimizer,"
         "AdagradOptimizer,AdadeltaOptimizer,FtrlOptimizer,Optimizer,Saver,get_or_create_global_step,get_global_step,"
         "MonitoredTrainingSession,SyncReplicasOptimizer,replica_device_setter,Server,StopAtStepHook,LoggingTensorHook,"
         "CheckpointSaverHook,SessionRunHook,exponential_decay,start_queue_runners,string_input_producer,shuffle_batch,"
         "batch,import_meta_graph}", "`tf.train.<name>` is TensorFlow 1 (gone in TensorFlow 2)",
         "tf.compat.v1.train.<name> (tf_upgrade_v2 renames it); TF 2: keras.optimizers, tf.train.Checkpoint, "
         "tf.distribute.Server", True, by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.summary.{FileWriter,merge_all,merge}", "`tf.summary.<name>` is TensorFlow 1",
         "tf.compat.v1.summary.<name> (tf_upgrade_v2 renames it); TF 2: tf.summary.create_file_writer", True,
         by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.losses.{softmax_cross_entropy,sparse_softmax_cross_entropy,mean_squared_error,"
         "sigmoid_cross_entropy,log_loss,absolute_difference,hinge_loss,huber_loss,get_total_loss,add_loss}",
         "`tf.losses.<name>` is TensorFlow 1", "tf.compat.v1.losses.<name> (tf_upgrade_v2 renames it); "
         "TF 2: keras.losses", True, by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.nn.softmax_cross_entropy_with_logits_v2", "`tf.nn.softmax_cross_entropy_with_logits_v2` "
         "is TensorFlow 1", "`tf.nn.softmax_cross_entropy_with_logits` (tf_upgrade_v2 renames it)", True,
         by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.image.resize_images", "`tf.image.resize_images` is TensorFlow 1", "`tf.image.resize` "
         "(tf_upgrade_v2 renames it)", True, by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.data.make_one_shot_iterator", "`tf.data.make_one_shot_iterator` is TensorFlow 1",
         "`iter(dataset)`; tf_upgrade_v2 makes it tf.compat.v1.data.make_one_shot_iterator", True, by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.saved_model.{simple_save,loader,builder}", "`tf.saved_model.<name>` is TensorFlow 1",
         "`tf.saved_model.save` / `model.export(DIR)`; tf_upgrade_v2 makes it tf.compat.v1.saved_model.<name>",
         True, by="tf_upgrade_v2"),
    Rule("tf1", "tensorflow.layers", "`tf.layers` is TensorFlow 1", "`keras.layers` (tf.compat.v1.layers, what "
         "tf_upgrade_v2 writes, needs tf_keras: the Keras 2 environment)"),
    Rule("tf1", "tensorflow.compat.v1.layers", "`tf.compat.v1.layers` needs tf_keras (Keras 2): with Keras 3 it is "
         "empty", "`keras.layers`, or the Keras 2 environment (environment.keras=2)", keras=K3),
    Rule("tf1", "tensorflow.contrib", "`tf.contrib` is gone in TensorFlow 2 (no upgrade)",
         "its TF 2 / Keras replacement (tf.contrib.layers -> keras.layers, tf.contrib.slim -> keras, "
         "tf.contrib.distribute -> tf.distribute)"),
    Rule("tf1", "tensorflow.{estimator,compat.v1.estimator}", "`tf.estimator` was removed in TensorFlow 2.16",
         "a Keras model and training loop (trainkit `entry=script` runs the rewritten script)"),
    Rule("tf1", "tensorflow.mixed_precision.experimental", "`tf.mixed_precision.experimental` is gone",
         "`keras.mixed_precision.set_global_policy`"),
    Rule("tf1", "tensorflow.examples.tutorials", "`tensorflow.examples.tutorials` (the MNIST `input_data` reader) is "
         "not shipped with TensorFlow 2, and it downloads MNIST", "trainkit's `dataset=mnist`: read the IDX files "
         "from `${dataset.path}` (pass `--data-folder=${dataset.path}`)"),
    # ---------------------------------------------------------------- downloads at run time (there is no internet)
    Rule("download", "keras.datasets.mnist.load_data", "`mnist.load_data()` downloads MNIST at run time",
         "`entry.keras_datasets: {mnist: DATASET}` (trainkit migrate sets it): the loader returns a trainkit "
         "dataset's arrays, offline; or read the IDX files from `${dataset.path}`"),
    Rule("download", "keras.datasets.fashion_mnist.load_data", "`fashion_mnist.load_data()` downloads Fashion-MNIST "
         "at run time", "`entry.keras_datasets: {fashion_mnist: fashion_mnist}` (trainkit migrate sets it): the loader "
         "returns trainkit's dataset (offline, from Debian's package); or read the IDX files from `${dataset.path}`"),
    Rule("download", "keras.datasets.{cifar10,cifar100,imdb,reuters,boston_housing,california_housing}.load_data",
         "`<name>.load_data()` downloads the data set at run time", DOWNLOAD),
    Rule("download", "keras.utils.get_file", "`get_file` downloads at run time", DOWNLOAD),
    Rule("download", "{urllib.request,urllib,six.moves.urllib.request}.urlretrieve", "`<name>.urlretrieve` downloads "
         "at run time", DOWNLOAD),
    Rule("download", "{urllib.request,urllib,six.moves.urllib.request}.urlopen", "`<name>.urlopen` downloads at run "
         "time", DOWNLOAD),
    Rule("download", "urllib2.urlopen", "`urllib2.urlopen` (Python 2) downloads at run time", DOWNLOAD),
    Rule("download", "requests.{get,request}", "`requests.<name>` downloads at run time", DOWNLOAD),
    Rule("download", "wget.download", "`wget.download` downloads at run time", DOWNLOAD),
    Rule("download", "tensorflow_datasets.{load,builder}", "`tfds.<name>` downloads the data set at run time",
         DOWNLOAD),
    Rule("download", "sklearn.datasets.{fetch_openml,fetch_california_housing,fetch_20newsgroups,"
         "fetch_20newsgroups_vectorized,fetch_covtype,fetch_kddcup99,fetch_lfw_people,fetch_lfw_pairs,"
         "fetch_olivetti_faces,fetch_rcv1,fetch_species_distributions}", "`sklearn.datasets.<name>` downloads at "
         "run time", "scikit-learn's bundled `load_*` data sets load offline; otherwise " + DOWNLOAD),
    # ---------------------------------------------------------------- Azure ML SDK v1 in a training script
    Rule("azureml", "azureml.core.{Run,run.Run}", "`azureml.core.Run` (Azure ML SDK v1) is not installed",
         "`entry.azureml_compat=true` (trainkit migrate sets it): `Run.get_context()`, `run.log(...)` and tags go "
         "to the trainkit run"),
    Rule("azureml", "{azureml,azureml.core,azureml.core.run}", "`<name>` (Azure ML SDK v1) is not installed",
         "`entry.azureml_compat=true` (trainkit migrate sets it) gives it, with `Run` only", exact=True),
    Rule("azureml", "azureml", "Azure ML SDK v1 is not installed, and trainkit's stand-in has only "
         "`azureml.core.Run`", "drop the SDK call from the training script (notebook SDK calls are what trainkit "
         "migrate turns into configs); keep only `Run.get_context()` logging"),
)
