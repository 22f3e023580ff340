@problemName Bad
@univariate false
@classLabel true a b
@data
:4,5,6:a
