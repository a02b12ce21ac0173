"""Stream operators: one `Operator` contract (`process`, a batch path, `stats`, `flush`,
`test`) and the parts operators share, such as the bounded prediction/label join."""

from edalab.operators.base import Operator
from edalab.operators.join import LabelJoin, label_of

__all__ = ["LabelJoin", "Operator", "label_of"]
