@problemName Bad
@classLabel true a b
