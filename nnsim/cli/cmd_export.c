/*
 * nnsim export: a model as an ONNX graph (opset 13) that takes raw inputs,
 * as nnsim predict does: the input normalisation as Sub and Mul, each
 * dense layer as Gemm, and its activation as the matching operator. The
 * protobuf comes from protoc-c and nnsim/cli/onnx.proto.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "cli/cmd.h"
#include "cli/model_io.h"
#include "cli/onnx.pb-c.h"

#define EXPORT_OPSET	13
#define EXPORT_IR	7	/* the IR version opset 13 came with */

static int	cmd_export_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.usage = "MODEL [-o FILE.onnx] [--force]",
	.summary = "write a model as an ONNX graph",
	.help =
	    "Writes MODEL as ONNX (opset 13) to FILE.onnx (default: MODEL\n"
	    "with .onnx for .nnm). The graph takes raw inputs, as nnsim\n"
	    "predict does: input \"input\" [N, inputs] float, the model's\n"
	    "normalisation as Sub and Mul, each layer as Gemm and its\n"
	    "activation (Sigmoid, Tanh, Relu, LeakyRelu, Softmax; none for\n"
	    "linear), output \"output\" [N, outputs] (docs/export.md).\n\n"
	    "options:\n"
	    "  -o, --output FILE   write here\n"
	    "  -f, --force         overwrite FILE if it exists\n"
	    "  -h, --help          show this help\n",
	.exec = cmd_export_exec,
};

/* Each activation's ONNX operator; linear needs none. */
static const struct export_act {
	enum nn_act	 act;
	const char	*op;		/* NULL: the Gemm's output as it is */
} export_acts[] = {
	{ NN_ACT_LINEAR, NULL },
	{ NN_ACT_SIGMOID, "Sigmoid" },
	{ NN_ACT_TANH, "Tanh" },
	{ NN_ACT_RELU, "Relu" },
	{ NN_ACT_LEAKY_RELU, "LeakyRelu" },
	{ NN_ACT_SOFTMAX, "Softmax" },
};

/*
 * The graph under construction. Every message and string is allocated
 * through export_alloc and kept in mem, so one loop frees them all.
 */
struct export {
	void		**mem;
	size_t		  nmem, capmem;
	Onnx__GraphProto *graph;
	size_t		  capnodes, capinits;
};

static void *
export_alloc(struct export *e, size_t n, size_t size)
{
	void *p = xcalloc(n > 0 ? n : 1, size);

	if (e->nmem == e->capmem)
		e->mem = xreallocarray(e->mem, e->capmem = e->capmem * 2 + 32,
		    sizeof *e->mem);
	e->mem[e->nmem++] = p;
	return p;
}

static char *
export_str(struct export *e, const char *s)
{
	char *p = export_alloc(e, strlen(s) + 1, 1);

	memcpy(p, s, strlen(s));
	return p;
}

static char *
export_name(struct export *e, const char *what, int l)
{
	char *s = xasprintf("%s%d", what, l), *p = export_str(e, s);

	free(s);
	return p;
}

/* A float tensor initializer of shape dims, a copy of v. */
static void
export_tensor(struct export *e, const char *name, const int64_t *dims,
    size_t ndims, const float *v, size_t n)
{
	Onnx__GraphProto *g = e->graph;
	Onnx__TensorProto *t = export_alloc(e, 1, sizeof *t);

	onnx__tensor_proto__init(t);
	t->name = export_str(e, name);
	t->has_data_type = 1;
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	t->n_dims = ndims;
	t->dims = export_alloc(e, ndims, sizeof *t->dims);
	memcpy(t->dims, dims, ndims * sizeof *dims);
	t->n_float_data = n;
	t->float_data = export_alloc(e, n, sizeof *t->float_data);
	memcpy(t->float_data, v, n * sizeof *v);
	if (g->n_initializer == e->capinits)
		g->initializer = xreallocarray(g->initializer,
		    e->capinits = e->capinits * 2 + 4, sizeof *g->initializer);
	g->initializer[g->n_initializer++] = t;
}

/* A node op(inputs) -> output; inputs end at NULL. */
static Onnx__NodeProto *
export_node(struct export *e, const char *op, const char *output, ...)
{
	Onnx__GraphProto *g = e->graph;
	Onnx__NodeProto *n = export_alloc(e, 1, sizeof *n);
	const char *in;
	va_list ap;

	onnx__node_proto__init(n);
	n->op_type = export_str(e, op);
	n->name = export_str(e, output);
	n->n_output = 1;
	n->output = export_alloc(e, 1, sizeof *n->output);
	n->output[0] = export_str(e, output);
	n->input = export_alloc(e, 3, sizeof *n->input);
	va_start(ap, output);
	while (n->n_input < 3 && (in = va_arg(ap, const char *)) != NULL)
		n->input[n->n_input++] = export_str(e, in);
	va_end(ap);
	if (g->n_node == e->capnodes)
		g->node = xreallocarray(g->node, e->capnodes = e->capnodes *
		    2 + 8, sizeof *g->node);
	g->node[g->n_node++] = n;
	return n;
}

/* Adds an INT or FLOAT attribute to node n. */
static void
export_attr(struct export *e, Onnx__NodeProto *n, const char *name,
    int is_float, int64_t i, float f)
{
	Onnx__AttributeProto *a = export_alloc(e, 1, sizeof *a);
	Onnx__AttributeProto **list;

	onnx__attribute_proto__init(a);
	a->name = export_str(e, name);
	a->has_type = 1;
	if (is_float) {
		a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
		a->has_f = 1;
		a->f = f;
	} else {
		a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
		a->has_i = 1;
		a->i = i;
	}
	list = export_alloc(e, n->n_attribute + 1, sizeof *list);
	if (n->n_attribute > 0)
		memcpy(list, n->attribute, n->n_attribute * sizeof *list);
	list[n->n_attribute++] = a;
	n->attribute = list;
}

/* A float tensor value of shape [N, width], N left symbolic. */
static Onnx__ValueInfoProto *
export_value(struct export *e, const char *name, int width)
{
	Onnx__ValueInfoProto *v = export_alloc(e, 1, sizeof *v);
	Onnx__TypeProto *t = export_alloc(e, 1, sizeof *t);
	Onnx__TypeProto__Tensor *tt = export_alloc(e, 1, sizeof *tt);
	Onnx__TensorShapeProto *s = export_alloc(e, 1, sizeof *s);
	Onnx__TensorShapeProto__Dimension **d;

	onnx__value_info_proto__init(v);
	onnx__type_proto__init(t);
	onnx__type_proto__tensor__init(tt);
	onnx__tensor_shape_proto__init(s);
	d = export_alloc(e, 2, sizeof *d);
	d[0] = export_alloc(e, 1, sizeof **d);
	d[1] = export_alloc(e, 1, sizeof **d);
	onnx__tensor_shape_proto__dimension__init(d[0]);
	onnx__tensor_shape_proto__dimension__init(d[1]);
	d[0]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
	d[0]->dim_param = export_str(e, "N");
	d[1]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	d[1]->dim_value = width;
	s->n_dim = 2;
	s->dim = d;
	tt->has_elem_type = 1;
	tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	tt->shape = s;
	t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	t->tensor_type = tt;
	v->name = export_str(e, name);
	v->type = t;
	return v;
}

static const struct export_act *
export_act_find(enum nn_act act)
{
	size_t i;

	for (i = 0; i < sizeof export_acts / sizeof export_acts[0]; i++)
		if (export_acts[i].act == act)
			return &export_acts[i];
	return NULL;
}

/*
 * Builds m's graph into e->graph: 0, or -1 with cause for a layer whose
 * activation has no ONNX operator.
 */
static int
export_build(struct export *e, struct nn_model *m, const char *path,
    char **cause)
{
	const struct nn_arch *a = nn_net_arch(m->net);
	const struct export_act *act;
	Onnx__GraphProto *g = e->graph;
	Onnx__NodeProto *n;
	const char *h = "input", *z;
	const float *params = nn_net_params(m->net, NULL);
	size_t w_off, b_off;
	int64_t dims[2];
	int l, in = a->input, last;

	g->name = export_str(e, m->name != NULL ? m->name : "nnsim");
	g->n_input = g->n_output = 1;
	g->input = export_alloc(e, 1, sizeof *g->input);
	g->output = export_alloc(e, 1, sizeof *g->output);
	g->input[0] = export_value(e, "input", a->input);
	g->output[0] = export_value(e, "output", nn_arch_outputs(a));
	/* x' = (x - shift) * scale, in float32 as nnsim computes it. */
	if (m->norm.kind != NN_NORM_NONE) {
		dims[0] = a->input;
		export_tensor(e, "norm_shift", dims, 1, m->norm.shift,
		    (size_t)a->input);
		export_tensor(e, "norm_scale", dims, 1, m->norm.scale,
		    (size_t)a->input);
		export_node(e, "Sub", "centred", h, "norm_shift", NULL);
		export_node(e, "Mul", "normalised", "centred", "norm_scale",
		    NULL);
		h = "normalised";
	}
	for (l = 0; l < a->nlayers; l++) {
		if ((act = export_act_find(a->layer[l].act)) == NULL)
			return nn_fail(cause, "%s: layers[%d].activation: %s "
			    "has no ONNX operator", path, l,
			    nn_act_name(a->layer[l].act));
		last = l == a->nlayers - 1;
		nn_net_layer_offsets(m->net, l, &w_off, &b_off);
		dims[0] = a->layer[l].units;
		dims[1] = in;
		export_tensor(e, export_name(e, "W", l), dims, 2,
		    params + w_off, (size_t)dims[0] * in);
		export_tensor(e, export_name(e, "B", l), dims, 1,
		    params + b_off, (size_t)dims[0]);
		z = last && act->op == NULL ? "output" : export_name(e, "Z", l);
		/* W is units x inputs, row-major: y = x W^T + b. */
		n = export_node(e, "Gemm", z, h, export_name(e, "W", l),
		    export_name(e, "B", l), NULL);
		export_attr(e, n, "transB", 0, 1, 0);
		h = z;
		if (act->op == NULL)
			goto next;
		z = last ? "output" : export_name(e, "H", l);
		n = export_node(e, act->op, z, h, NULL);
		if (act->act == NN_ACT_LEAKY_RELU)
			export_attr(e, n, "alpha", 1, 0, a->leaky_slope);
		else if (act->act == NN_ACT_SOFTMAX)
			export_attr(e, n, "axis", 0, 1, 0);
		h = z;
next:
		in = a->layer[l].units;
	}
	return 0;
}

/* Key and value metadata the graph carries for readers: task, classes. */
static void
export_metadata(struct export *e, Onnx__ModelProto *mp,
    const struct nn_model *m)
{
	Onnx__StringStringEntryProto *kv;
	json_t *classes;
	char *s;
	int i;

	mp->metadata_props = export_alloc(e, 2, sizeof *mp->metadata_props);
	kv = export_alloc(e, 1, sizeof *kv);
	onnx__string_string_entry_proto__init(kv);
	kv->key = export_str(e, "task");
	kv->value = export_str(e, m->task == NN_TASK_CLASSIFICATION ?
	    "classification" : "regression");
	mp->metadata_props[mp->n_metadata_props++] = kv;
	if (m->classes == NULL)
		return;
	classes = json_array();
	for (i = 0; i < m->nclasses; i++)
		json_array_append_new(classes, json_string(m->classes[i]));
	s = json_dumps(classes, JSON_COMPACT);
	json_decref(classes);
	kv = export_alloc(e, 1, sizeof *kv);
	onnx__string_string_entry_proto__init(kv);
	kv->key = export_str(e, "classes");
	kv->value = export_str(e, s);
	free(s);
	mp->metadata_props[mp->n_metadata_props++] = kv;
}

/* Writes len bytes to path through a temporary file and a rename. */
static int
export_write(const char *path, const void *buf, size_t len, char **cause)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f;
	int rc = -1;

	if ((f = fopen(tmp, "w")) == NULL) {
		nn_fail(cause, "%s: cannot open for writing: %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (fwrite(buf, 1, len, f) != len || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		nn_fail(cause, "%s: write failed: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

static int
cmd_export_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nn_model *model = NULL;
	struct export e;
	Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
	Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
	Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	Onnx__OperatorSetIdProto *opsets[1] = { &opset };
	const char *model_path;
	char *output = NULL, *cause = NULL;
	unsigned char *buf = NULL;
	size_t len, i;
	int c, force = 0, threads = 0, rc = EXIT_USAGE;

	memset(&e, 0, sizeof e);
	e.graph = &graph;
	optind = 1;
	while ((c = cmd_getopt(self, argc, argv, ":o:fh", longopts, &threads,
	    &rc)) != -1) {
		switch (c) {
		case 'o':
			free(output);
			output = xstrdup(optarg);
			break;
		case 'f':
			force = 1;
			break;
		case CMD_OPT_EXIT:
			goto out;
		}
	}
	if (cmd_check_args(self, argc - optind, 1, "MODEL") != 0)
		goto out;
	model_path = argv[optind];
	if (output == NULL) {
		len = strlen(model_path);
		if (model_io_suffix(model_path, ".nnm"))
			len -= 4;
		output = xasprintf("%.*s.onnx", (int)len, model_path);
	}
	/* Before any work: an existing FILE needs --force. */
	if (nn_output_check(output, force, &cause) != 0 ||
	    (model = nn_model_load(model_path, &cause)) == NULL ||
	    export_build(&e, model, model_path, &cause) != 0)
		goto fail;
	opset.domain = "";
	opset.has_version = 1;
	opset.version = EXPORT_OPSET;
	mp.has_ir_version = 1;
	mp.ir_version = EXPORT_IR;
	mp.n_opset_import = 1;
	mp.opset_import = opsets;
	mp.producer_name = "nnsim";
	mp.graph = &graph;
	export_metadata(&e, &mp, model);
	len = onnx__model_proto__get_packed_size(&mp);
	buf = xmalloc(len > 0 ? len : 1);
	onnx__model_proto__pack(&mp, buf);
	if (export_write(output, buf, len, &cause) != 0) {
		rc = EXIT_FAILED;
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "nnsim export: %s\n", cause);
out:
	for (i = 0; i < e.nmem; i++)
		free(e.mem[i]);
	free(e.mem);
	free(graph.node);
	free(graph.initializer);
	free(buf);
	nn_model_free(model);
	free(output);
	free(cause);
	return rc;
}
