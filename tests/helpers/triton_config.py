# Parse a Triton config.pbtxt with Google's protobuf text_format against a descriptor that
# mirrors the fields of inference.ModelConfig that splitc writes (names, types and numbers
# from triton-inference-server/common protobuf/model_config.proto), and print it as JSON.
# Unknown fields, wrong types or bad enum values are errors, as they are for Triton.
import json, sys
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, text_format


def message_class(d):
    # GetMessageClass is protobuf >= 4.22; older releases have MessageFactory.GetPrototype
    if hasattr(message_factory, 'GetMessageClass'):
        return message_factory.GetMessageClass(d)
    return message_factory.MessageFactory().GetPrototype(d)


F = descriptor_pb2.FieldDescriptorProto
fd = descriptor_pb2.FileDescriptorProto(name='model_config_subset.proto', package='inference', syntax='proto3')
dt = fd.enum_type.add(name='DataType')
for i, n in enumerate(['TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64', 'TYPE_INT8', 'TYPE_INT16',
                       'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64', 'TYPE_STRING', 'TYPE_BF16']):
    dt.value.add(name=n, number=i)

def field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None):
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name

mi = fd.message_type.add(name='ModelInput')
field(mi, 'name', 1, F.TYPE_STRING)
field(mi, 'data_type', 2, F.TYPE_ENUM, type_name='.inference.DataType')
field(mi, 'dims', 4, F.TYPE_INT64, F.LABEL_REPEATED)
mo = fd.message_type.add(name='ModelOutput')
field(mo, 'name', 1, F.TYPE_STRING)
field(mo, 'data_type', 2, F.TYPE_ENUM, type_name='.inference.DataType')
field(mo, 'dims', 3, F.TYPE_INT64, F.LABEL_REPEATED)
db = fd.message_type.add(name='ModelDynamicBatching')
field(db, 'max_queue_delay_microseconds', 3, F.TYPE_UINT64)
mc = fd.message_type.add(name='ModelConfig')
field(mc, 'name', 1, F.TYPE_STRING)
field(mc, 'platform', 2, F.TYPE_STRING)
field(mc, 'backend', 17, F.TYPE_STRING)
field(mc, 'max_batch_size', 4, F.TYPE_INT32)
field(mc, 'input', 5, F.TYPE_MESSAGE, F.LABEL_REPEATED, '.inference.ModelInput')
field(mc, 'output', 6, F.TYPE_MESSAGE, F.LABEL_REPEATED, '.inference.ModelOutput')
field(mc, 'dynamic_batching', 11, F.TYPE_MESSAGE, type_name='.inference.ModelDynamicBatching')

pool = descriptor_pool.DescriptorPool()
pool.Add(fd)
ModelConfig = message_class(pool.FindMessageTypeByName('inference.ModelConfig'))
cfg = ModelConfig()
text_format.Parse(open(sys.argv[1]).read(), cfg)
out = json_format.MessageToDict(cfg, preserving_proto_field_name=True)
out['has_dynamic_batching'] = cfg.HasField('dynamic_batching')
print(json.dumps(out))
